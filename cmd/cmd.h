/* isolationctl's commands beyond check and explain. */
#ifndef ISO_CMD_CMD_H
#define ISO_CMD_CMD_H

/* isolationctl prolog|epilog [--policy FILE] (script.c): ARGV[0] is "prolog" or "epilog". */
int cmd_script(int argc, char **argv);
/* isolationctl sweep [--policy FILE] (script.c): remove what ended jobs left, now. */
int cmd_sweep(int argc, char **argv);

/* isolationctl import [--namespace-conf FILE] [--namespace-d DIR] [--fstab-user FILE] [-o FILE]
 * (import.c): a policy from a site's pam_namespace configuration and fstab_user. */
int cmd_import(int argc, char **argv);

#endif
