/*
 * modules/source/source_position.h - how far a source has read a file,
 * kept across restarts (source.file).
 *
 * A position is the byte offset (and line number) just behind the last
 * record the source has sent on, with two checksums that recognise the
 * file by its content rather than by its name or inode: FNV-1a 64 of the
 * first SOURCE_POS_PROBE bytes and of the SOURCE_POS_PROBE bytes in front
 * of the offset (fewer when the offset is smaller).  A file that still
 * holds the same bytes there (the same file, or a copy with lines
 * appended: a new export, a git checkout) continues at the offset; one
 * that was replaced, rewritten or shortened is read from the start.  The
 * position file is one text line, written atomically (temporary file,
 * fsync, rename):
 *   klimakit-file-position 1 <offset> <line> <head-hex> <tail-hex>
 */
#ifndef SOURCE_POSITION_H
#define SOURCE_POSITION_H

#include <stdint.h>

#define SOURCE_POS_PROBE 4096

typedef struct source_pos {
  uint64_t offset; /* bytes behind the last record sent on */
  uint64_t line;   /* physical lines up to offset */
  uint64_t head, tail;
} source_pos_t;

/* Reads the position file `path`.  Returns 0, -ENOENT when there is
 * none, or KK_EPARSE / another -errno. */
int source_pos_load(const char *path, source_pos_t *p);
/* Writes it (creating the directory).  Returns 0 or a negative code. */
int source_pos_save(const char *path, const source_pos_t *p);
/* Fills p->head and p->tail from the open file `fd` for p->offset (pread,
 * at most 2 x SOURCE_POS_PROBE bytes).  Returns 0 or a negative code
 * (KK_EPARSE when the file is shorter than the offset). */
int source_pos_sums(int fd, source_pos_t *p);
/* 1 when the open file `fd` of `size` bytes still holds what `p` was
 * taken from, else 0. */
int source_pos_matches(int fd, uint64_t size, const source_pos_t *p);

#endif
