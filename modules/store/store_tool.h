/*
 * modules/store/store_tool.h - the store family's shared layer: running
 * a database's own command-line tool (pg_dump, pg_restore) for the
 * backup and restore commands.
 */
#ifndef KK_MODULES_STORE_TOOL_H
#define KK_MODULES_STORE_TOOL_H

/* Runs argv[0] (found on PATH) with argv, its output going where ours
 * goes, and waits for it.  Returns 0 when it exited 0, else KK_EIO with
 * the reason in kk_store_errmsg(). */
int store_run_tool(char *const argv[]);

#endif
