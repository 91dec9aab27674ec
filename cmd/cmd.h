/* isolationctl's commands beyond check and explain. */
#ifndef ISO_CMD_CMD_H
#define ISO_CMD_CMD_H

/* isolationctl prolog|epilog [--policy FILE] (script.c): ARGV[0] is "prolog" or "epilog". */
int cmd_script(int argc, char **argv);

#endif
