#ifndef ISO_NSJOB_H
#define ISO_NSJOB_H
#endif
