/*
 * tb_publish: writes entry lists as Atom 1.0, RSS 2.0 and JSON Feed 1.1, and
 * replaces published files atomically.
 *
 * The writers take a tb_entry list as store/topic read it back (out_id and
 * origin filled, newest first) and append one complete document to a tb_buf.
 * They never fail on missing fields: every string may be NULL. Strings are
 * cleaned on the way out (invalid UTF-8 becomes U+FFFD; C0 controls other
 * than tab, LF and CR, and U+FFFE/U+FFFF are dropped), so the output is
 * always well-formed. The same input gives byte-identical output, except
 * that a feed whose meta and entries carry no date at all, or whose date
 * is in the future, is dated "now" (the feed's updated, RSS lastBuildDate).
 *
 * Fallbacks, so that every Atom document is valid RFC 4287:
 *  - an entry without out_id uses its id, else its link, else
 *    "urn:tributary:entry:N" (N its 1-based position in the list);
 *  - an entry without title gets "(untitled)";
 *  - an entry without updated uses published, else the feed's updated;
 *  - an entry without authors gets, in its atom:source, an author named after
 *    its origin feed's title ("unknown" without one), and the feed gets an
 *    author named after the feed title;
 *  - an entry with neither link nor content gets its summary (or "") as content.
 *
 * An entry with trend_groups > 0 also carries the tributary extension
 * TB_PUBLISH_NS: <tb:trending score="2.410" groups="4"/> in Atom and RSS,
 * "_tributary": {"about": TB_PUBLISH_NS, "trending": {"score": 2.41,
 * "groups": 4}} in JSON Feed.
 *
 * RFC 5005 (meta next_archive, newer_archive, current, archive): Atom and
 * RSS carry the links as (atom:)link rel="prev-archive", "next-archive"
 * and "current" and an archive page <fh:archive/>; JSON Feed has
 * next_url = prev-archive and "_archive": {"about": TB_PUBLISH_NS_FH,
 * "archive": true (pages only), "prev_archive", "next_archive", "current"}.
 *
 * No I/O except in tb_publish_write_file() and the tb_publish_batch calls;
 * no libuv, no libcurl.
 */
#ifndef TB_PUBLISH_H
#define TB_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "tb_buf.h"
#include "tb_entry.h"
#include "tb_log.h"

/** The namespace of RFC 5005's elements (fh:archive). */
#define TB_PUBLISH_NS_FH "http://purl.org/syndication/history/1.0"

/** The namespace of tributary's extension elements. */
#define TB_PUBLISH_NS "https://tributary.dev/ns/1.0"

/** Metadata of the document being written. Strings are borrowed. */
struct tb_publish_meta {
    const char *id;            /* feed id (absolute IRI); required */
    const char *title;         /* plain text; required */
    const char *subtitle;      /* or NULL */
    const char *self;          /* URL of this document (rel=self), or NULL */
    const char *alternate;     /* HTML page for the feed (rel=alternate), or NULL */
    const char *hub;           /* WebSub hub (rel=hub), or NULL */
    const char *next_archive;  /* RFC 5005 rel=prev-archive URL (the next older
                                  document), or NULL */
    const char *newer_archive; /* RFC 5005 rel=next-archive URL, or NULL */
    const char *current;       /* RFC 5005 rel=current URL, or NULL */
    int archive;               /* non-zero: a complete archive page (fh:archive) */
    int64_t updated;           /* feed updated (epoch s); TB_TIME_NONE -> newest entry's date,
                                  else `now`; a future date -> the clock */
    int64_t now;               /* the date of a feed with no dated entry, or 0: the clock */
};

/**
 * Writes an Atom 1.0 feed of the entries (a tb_entry list linked by next,
 * already sorted newest first by the caller) into out (appends). Returns 0,
 * -ENOMEM, TB_ETOOBIG (buffer cap), or -EIO if libxml2 fails otherwise. On
 * failure nothing is left appended; a failed buffer is freed as by
 * tb_buf_add().
 */
TB_NODISCARD int tb_publish_atom(const struct tb_publish_meta *m, const struct tb_entry *entries,
                                 struct tb_buf *out);

/** An Atom document being written in batches; opaque. */
struct tb_publish_stream;

/**
 * Starts an Atom 1.0 feed written in batches, so a long list needs neither
 * all its entries nor the whole document in memory at once. The head is
 * written (and flushed into out) now, so it takes what tb_publish_atom()
 * finds in the entries:
 * m->updated should be the newest entry's date (TB_TIME_NONE gives "now"),
 * and authorless is non-zero when some entry has no author. Bytes go to
 * out (appended); the caller may drain it (write it out, tb_buf_reset())
 * after any call. begin, every batch and end together give the same bytes
 * as tb_publish_atom() on the whole list with the same updated. *out is the
 * stream (free with tb_publish_atom_end()), or NULL on error. Errors:
 * -ENOMEM, TB_ETOOBIG (out's cap), -EIO.
 */
TB_NODISCARD int tb_publish_atom_begin(struct tb_publish_stream **ps,
                                       const struct tb_publish_meta *m, int authorless,
                                       struct tb_buf *out);

/**
 * Writes a batch of entries (a list linked by next, continuing newest first)
 * and flushes them into the stream's buffer. After an error every later
 * call returns the same error. Errors as tb_publish_atom_begin().
 */
TB_NODISCARD int tb_publish_atom_entries(struct tb_publish_stream *ps,
                                         const struct tb_entry *entries);

/**
 * Appends to out the bytes tb_publish_atom_entries() would write for the
 * first n entries of the list (fewer if it ends first) when pos entries
 * precede them in the document (pos counts for fallback ids). ps is only
 * read, so several threads may render disjoint parts of one document at
 * once; the caller puts the parts in order between begin's bytes and end's.
 * The stream's own count does not advance. Errors: -ENOMEM, TB_ETOOBIG
 * (out's cap; out is then freed as by tb_buf_add()), -EIO.
 */
TB_NODISCARD int tb_publish_atom_render(const struct tb_publish_stream *ps, size_t pos,
                                        const struct tb_entry *entries, size_t n,
                                        struct tb_buf *out);

/**
 * Tells the stream that its entries share their origin's strings (the
 * in-memory dedupe's do): each origin's atom:source is then rendered once,
 * when first met, and copied into the entries that follow (pieces rendered
 * at once share the copies). The same bytes as without. Call before
 * writing entries. Errors: -ENOMEM.
 */
TB_NODISCARD int tb_publish_atom_share_sources(struct tb_publish_stream *ps);

/**
 * Closes the feed, flushes the rest into the buffer and frees the stream.
 * Returns the first error of the stream's life, or 0. NULL is a no-op
 * returning 0. On error the buffer may hold a partial document.
 */
TB_NODISCARD int tb_publish_atom_end(struct tb_publish_stream *ps);

/**
 * The same entries as RSS 2.0 (with atom:link rel=self, content:encoded,
 * dc:creator, guid isPermaLink=false holding out_id). Plain-text bodies are
 * HTML-escaped into description. Errors as tb_publish_atom().
 */
TB_NODISCARD int tb_publish_rss(const struct tb_publish_meta *m, const struct tb_entry *entries,
                                struct tb_buf *out);

/**
 * The same entries as JSON Feed 1.1 (next_archive becomes next_url, and
 * the RFC 5005 links "_archive" as described above; hub a
 * WebSub hub, enclosures attachments). The plain-text summary is left out
 * when its text would open a tag if a reader rendered it as HTML ("<" and a
 * letter, "/", "!" or "?"); content_html or content_text still carries the
 * body. Errors as tb_publish_atom().
 */
TB_NODISCARD int tb_publish_json(const struct tb_publish_meta *m, const struct tb_entry *entries,
                                 struct tb_buf *out);

/**
 * Atomically replaces dir/relpath with data: writes dir/.relpath.tmp.XXXXXX
 * (mode 0644), fsync, rename, fsync dir; creates dir and missing
 * subdirectories. When gz is not NULL also writes gz[0..gzlen), the gzip form
 * of data (tb_gzip()), to relpath.gz the same way; when gz is NULL removes a
 * stale relpath.gz. relpath must be relative and free of "." and ".."
 * components. Returns 0 or negative errno with detail in err.
 */
TB_NODISCARD int tb_publish_write_file(const char *dir, const char *relpath, const char *data,
                                       size_t len, const void *gz, size_t gzlen, char *err,
                                       size_t errlen);

/** Files written together and made durable at once; opaque. */
struct tb_publish_batch;

/**
 * A batch of files to write under dir (copied), for many files at once
 * (archive pages): their data is flushed by one syncfs() at commit rather
 * than an fsync per file. NULL when out of memory.
 */
struct tb_publish_batch *tb_publish_batch_new(const char *dir);

/**
 * As tb_publish_write_file() (gz NULL: a stale relpath.gz is removed at
 * once), except that relpath and relpath.gz only appear at
 * tb_publish_batch_commit(); until then their data sits, unsynced, in
 * temporaries (tb_publish_clean_tmp() removes them after a crash).
 * Returns 0 or negative errno with detail in err.
 */
TB_NODISCARD int tb_publish_batch_write(struct tb_publish_batch *b, const char *relpath,
                                        const char *data, size_t len, const void *gz, size_t gzlen,
                                        char *err, size_t errlen);

/**
 * Makes the batch's files durable and visible, then frees b (NULL: nothing):
 * syncfs() of dir's file system, renames in the reverse order of writing
 * (so a file written before another is never missing once the later one
 * is there), fsync of each directory. A file renamed is complete: a crash
 * loses files, never leaves a partial one. On failure the files not yet
 * renamed are removed. Returns 0 or negative errno with detail in err.
 */
TB_NODISCARD int tb_publish_batch_commit(struct tb_publish_batch *b, char *err, size_t errlen);

/** Frees b without committing: its temporaries are removed. NULL: nothing. */
void tb_publish_batch_free(struct tb_publish_batch *b);

/**
 * Removes the temporary files (".NAME.tmp.XXXXXX") that tb_publish_write_file()
 * leaves behind when the process is killed between write and rename, in dir
 * and below. Call at start-up, before publishing. Returns how many were
 * removed; a missing dir counts as none.
 */
int tb_publish_clean_tmp(const char *dir);

#endif
