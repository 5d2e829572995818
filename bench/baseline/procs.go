package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// procs are the server processes whose CPU the baseline pays for besides
// its own: redis-server and the PostgreSQL postmaster with its children
// (backends, WAL writer, checkpointer...).
type procs struct {
	redis, postmaster int
}

// cpuTimes is CPU time used so far.
type cpuTimes struct {
	self, redis, postgres time.Duration
}

// serverProcs finds the servers' pids: Redis says its own, a PostgreSQL
// backend's parent is the postmaster. Both must run on this machine.
func serverProcs(ctx context.Context, rdb *redis.Client, conn *pgx.Conn) (procs, error) {
	var p procs
	info, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		return p, fmt.Errorf("redis info: %w", err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			p.redis, _ = strconv.Atoi(v)
		}
	}
	backend := int(conn.PgConn().PID())
	st, err := readStat(backend)
	if err != nil {
		return p, fmt.Errorf("postgres backend %d: %w (the server must run on this machine)", backend, err)
	}
	p.postmaster = st.ppid
	if p.redis == 0 {
		return p, fmt.Errorf("redis info: no process_id")
	}
	return p, nil
}

// cpu reads the CPU time of this process and of the servers.
func (p procs) cpu() (cpuTimes, error) {
	var t cpuTimes
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return t, err
	}
	t.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	st, err := readStat(p.redis)
	if err != nil {
		return t, fmt.Errorf("redis-server %d: %w", p.redis, err)
	}
	t.redis = st.cpu
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return t, err
	}
	for _, d := range dirs {
		pid, _ := strconv.Atoi(filepath.Base(d))
		st, err := readStat(pid)
		if err != nil {
			continue // gone meanwhile
		}
		if pid == p.postmaster || st.ppid == p.postmaster {
			t.postgres += st.cpu
		}
	}
	return t, nil
}

// stat is what the baseline reads of /proc/PID/stat.
type stat struct {
	ppid int
	cpu  time.Duration // utime + stime
}

// clockTick is USER_HZ, 100 on Linux everywhere that matters.
const clockTick = 10 * time.Millisecond

func readStat(pid int) (stat, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && line == "" {
		return stat{}, err
	}
	return parseStat(line)
}

// parseStat parses a /proc/PID/stat line; the command name (field 2) may
// hold spaces and parentheses, so fields are counted after its last ')'.
func parseStat(line string) (stat, error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return stat{}, fmt.Errorf("stat %q: no command", line)
	}
	f := strings.Fields(line[i+1:])
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return stat{}, fmt.Errorf("stat %q: %d fields", line, len(f)+2)
	}
	ppid, err1 := strconv.Atoi(f[1])
	ut, err2 := strconv.ParseInt(f[11], 10, 64)
	st, err3 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return stat{}, fmt.Errorf("stat %q: bad numbers", line)
	}
	return stat{ppid: ppid, cpu: time.Duration(ut+st) * clockTick}, nil
}
