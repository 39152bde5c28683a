package httplimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxRateAddrs bounds the addresses RateByAddr tracks. Beyond it, idle addresses (full
// buckets) are forgotten; if none is idle, new addresses share one bucket until some are.
const maxRateAddrs = 1 << 16

// RateByAddr is a token bucket per client address: Rate requests per second on average,
// bursts of Burst.
type RateByAddr struct {
	rate  rate.Limit
	burst int
	now   func() time.Time

	mu       sync.Mutex
	addrs    map[string]*rate.Limiter
	overflow *rate.Limiter
}

// NewRateByAddr returns a limiter of perSecond requests per address with bursts of burst;
// now is the clock (time.Now when nil). perSecond <= 0 allows everything.
func NewRateByAddr(perSecond float64, burst int, now func() time.Time) *RateByAddr {
	if now == nil {
		now = time.Now
	}
	l := &RateByAddr{rate: rate.Limit(perSecond), burst: max(burst, 1), now: now, addrs: map[string]*rate.Limiter{}}
	l.overflow = rate.NewLimiter(l.rate, l.burst)
	return l
}

// Allow takes a token of addr's bucket. When there is none it reports how long until one.
func (l *RateByAddr) Allow(addr string) (bool, time.Duration) {
	if l == nil || l.rate <= 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	lim := l.addrs[addr]
	if lim == nil {
		if len(l.addrs) >= maxRateAddrs {
			for a, x := range l.addrs {
				if x.TokensAt(now) >= float64(l.burst) {
					delete(l.addrs, a)
				}
			}
		}
		if len(l.addrs) < maxRateAddrs {
			lim = rate.NewLimiter(l.rate, l.burst)
			l.addrs[addr] = lim
		} else {
			lim = l.overflow
		}
	}
	l.mu.Unlock()
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
