package testnet

import (
	"errors"
	"net"
	"strconv"
)

// FreePorts finds a base port with count consecutive free ports on 127.0.0.1 after it, as far
// as can be told without holding them: for a testnet's --base-port, and for tests that start
// nodes of their own.
func FreePorts(count int) (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		base := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if base+count > 65535 {
			continue
		}
		ok := true
		for p := base; p < base+count && ok; p++ {
			pl, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				continue
			}
			_ = pl.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, errors.New("no run of free ports found")
}
