#ifndef ISO_INSTANCE_H
#define ISO_INSTANCE_H
#endif
