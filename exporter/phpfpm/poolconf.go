package phpfpm

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// maxPoolConfBytes bounds what is read of a pool configuration file; a real one is a few
// kilobytes (Debian's commented www.conf is 20 KiB).
const maxPoolConfBytes = 1 << 20

// readMaxChildren returns pm.max_children of the pool named pool in the php-fpm
// configuration file at path (INI syntax: "[pool]" sections, "key = value" lines, ";"
// comments). It reads only that file: point it at the pool's own file (pool.d/www.conf), not
// at a php-fpm.conf that includes it. The file is read at every scrape, so that a pool
// reloaded with a new size is measured against it from then on.
func readMaxChildren(path, pool string) (float64, error) {
	// Only a regular file: opening or reading a FIFO or a terminal can block, and this read is
	// outside the scrape's deadline.
	fi, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("reading pm.max_children: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("reading pm.max_children: %s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("reading pm.max_children: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPoolConfBytes+1))
	if err != nil {
		return 0, fmt.Errorf("reading pm.max_children from %s: %w", path, err)
	}
	if len(data) > maxPoolConfBytes {
		return 0, fmt.Errorf("%s is larger than %d bytes: not a pool configuration file", path, maxPoolConfBytes)
	}
	v, err := maxChildrenOf(data, pool)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// maxChildrenOf finds pm.max_children in the [pool] section of an INI text. The last value
// wins, as in PHP's INI parser.
func maxChildrenOf(data []byte, pool string) (float64, error) {
	var section, value string
	found, sawSection := false, false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxPoolConfBytes)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == ';' || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			end := strings.IndexByte(line, ']')
			if end < 0 {
				return 0, fmt.Errorf("bad section line %q", line)
			}
			section = strings.TrimSpace(line[1:end])
			sawSection = sawSection || section == pool
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok || section != pool || strings.TrimSpace(key) != "pm.max_children" {
			continue
		}
		val = strings.TrimSpace(val)
		if i := strings.IndexByte(val, ';'); i >= 0 {
			val = strings.TrimSpace(val[:i])
		}
		value, found = strings.Trim(val, `"'`), true
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if !sawSection {
		return 0, fmt.Errorf("no [%s] section: the status page's pool has no configuration here", pool)
	}
	if !found {
		return 0, fmt.Errorf("no pm.max_children in [%s]", pool)
	}
	n, err := strconv.ParseUint(value, 10, 31)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("pm.max_children in [%s] is %q, want a positive number", pool, value)
	}
	return float64(n), nil
}
