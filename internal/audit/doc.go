// Package audit keeps the append-only, hash-chained audit trail of who
// consulted or changed what: every investigative query, hotlist change and
// hit acknowledgement.
//
// # Model
//
// The trail is one file, DIR/audit.log, of JSON lines, one Record each, in
// sequence order from seq 1. Each record carries the hash of the one before
// (prev; 64 zeros for seq 1) and its own hash, so changing, deleting,
// reordering or inserting a record breaks the chain where it happened, and
// Verify reports that seq and why.
//
// The audit is the legal record of who searched what, readable only by
// auditors, so its query field may and does hold plates. It must never be
// logged, and nothing of this package logs a record.
//
// # Canonical form
//
// A record is written as exactly these keys in this order, no white space:
//
//	{"seq":N,"time":"T","who":S,"roles":[S,…],"action":S,"case_ref":S,
//	 "approval_ref":S,"query":S,"results":N,"status":N,"prev":H,"hash":H}
//
// N are decimal integers, T the UTC time to the millisecond
// (2006-01-02T15:04:05.000Z), H 64 lower-case hex digits, S JSON strings
// holding valid UTF-8 where only '"', '\\' and bytes below 0x20 are escaped,
// as \" \\ \n \r \t or \u00XX (lower-case hex); every other character is
// written as itself. hash is the hex SHA-256 of the line without its
// `,"hash":"…"` member and newline, that is of the bytes up to the end of the
// prev value followed by '}'. prev is the previous record's hash, which is
// as good as a hash of its whole line, the line being a function of the
// hashed bytes. Verify re-encodes every record it parses and refuses a line
// that is not byte for byte canonical, so one line has one meaning (no
// duplicate keys, no alternative escapes).
//
// # Durability and crashes
//
// Append writes the whole line with one write and fsyncs before returning:
// a query that got its answer after Append returned has its record on disk.
// A crash during a write can leave a torn last line, which no Append
// acknowledged. Open detects it (bytes after the last newline), copies them
// to DIR/audit.log.torn (appended, so nothing is destroyed), truncates the
// log to its last complete line and logs a warning with the byte count.
// Open checks the last complete record (hash and canonical form) to resume
// the chain from it and refuses to open a log whose last record is damaged;
// it does not verify the whole chain, which is Verify's job (anpr audit
// verify).
//
// After a failed write or fsync the Log refuses every further Append, since
// the file may end in a torn line: reopening repairs it.
//
// # Caveats
//
// The chain proves integrity only relative to its end: removing whole lines
// from the end, or rewriting a record and every record after it, yields a
// valid chain. Keeping the last seq and hash elsewhere (an export, a
// periodic log line) closes that gap.
package audit
