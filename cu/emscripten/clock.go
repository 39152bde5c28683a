package emscripten

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// The reference runs with the host in UTC; these follow the glue's Date-based code with a
// UTC local zone, so nothing depends on the host's time zone.

// maxDateMs is the range of a JavaScript Date.
const maxDateMs = 8.64e15

// jsDate converts a time in seconds to a UTC time, or false when Date would be invalid.
func jsDate(sec float64) (time.Time, bool) {
	ms := sec * 1000
	if math.IsNaN(ms) || math.Abs(ms) > maxDateMs {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(ms)).UTC(), true
}

// i53 is convertI32PairToI53Checked.
func i53(lo, hi uint32) float64 {
	if uint32(int32(hi)+0x200000) < 0x400001-boolU32(lo != 0) {
		return float64(lo) + float64(int32(hi))*4294967296
	}
	return math.NaN()
}

func boolU32(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

func (in *Instance) writeTm(tm uint32, t time.Time, ok, local bool) {
	put := func(off uint32, v int) {
		if !ok {
			v = 0 // NaN stored into an Int32Array
		}
		in.writeU32(tm+off, uint32(int32(v)))
	}
	put(0, t.Second())
	put(4, t.Minute())
	put(8, t.Hour())
	put(12, t.Day())
	put(16, int(t.Month())-1)
	put(20, t.Year()-1900)
	put(24, int(t.Weekday()))
	put(28, t.YearDay()-1)
	if local {
		if in.spec.ptr64 {
			in.writeU64(tm+40, 0) // long tm_gmtoff: -(getTimezoneOffset() * 60)
		} else {
			put(36, 0)
		}
		put(32, 0) // no DST in UTC
	}
}

func (in *Instance) gmtime32(s []uint64) {
	t, ok := jsDate(float64(int32(in.readU32(uint32(s[0])))))
	in.writeTm(uint32(s[1]), t, ok, false)
}

func (in *Instance) localtime32(s []uint64) {
	t, ok := jsDate(float64(int32(in.readU32(uint32(s[0])))))
	in.writeTm(uint32(s[1]), t, ok, true)
}

func (in *Instance) gmtime53(s []uint64) {
	t, ok := jsDate(i53(uint32(s[0]), uint32(s[1])))
	in.writeTm(uint32(s[2]), t, ok, false)
}

func (in *Instance) localtime53(s []uint64) {
	t, ok := jsDate(i53(uint32(s[0]), uint32(s[1])))
	in.writeTm(uint32(s[2]), t, ok, true)
}

// mktimeDate is `new Date(year+1900, mon, mday, hour, min, sec, 0)` in UTC, with V8's
// range rules (so a field far out of range gives an invalid date, not a wrapped one).
func (in *Instance) mktimeDate(tm uint32) (time.Time, float64, bool) {
	f := func(off uint32) float64 { return float64(int32(in.readU32(tm + off))) }
	year := f(20) + 1900
	if year >= 0 && year <= 99 {
		year += 1900
	}
	// tm_isdst < 0 asks mktime to decide; in UTC there is no DST. The glue writes this
	// before it looks at the date.
	if int32(in.readU32(tm+32)) < 0 {
		in.writeU32(tm+32, 0)
	}
	day, ok := makeDay(year, f(16), f(12))
	ms := day*864e5 + f(8)*36e5 + f(4)*6e4 + f(0)*1e3
	if !ok || math.Abs(ms) > maxDateMs {
		return time.Time{}, math.NaN(), false
	}
	return time.UnixMilli(int64(ms)).UTC(), ms, true
}

// makeDay is V8's MakeDay: days since the epoch of year/month/date, months and dates out of
// range carrying over; false where V8 gives NaN (|year| beyond 10^6, |month| beyond 10^7).
func makeDay(year, month, date float64) (float64, bool) {
	if year < -1e6 || year > 1e6 || month < -1e7 || month > 1e7 {
		return 0, false
	}
	y, m := int64(year), int64(month)
	y += m / 12
	m %= 12
	if m < 0 {
		m += 12
		y--
	}
	const yearDelta = 399999
	base := func(y int64) int64 {
		y += yearDelta
		return 365*y + y/4 - y/100 + y/400
	}
	days := base(y) - base(1970)
	if isLeap(int(y)) {
		days += int64(monthDaysLeap[m])
	} else {
		days += int64(monthDays[m])
	}
	return float64(days) + date - 1, true
}

var (
	monthDays     = [12]int{0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334}
	monthDaysLeap = [12]int{0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335}
)

func (in *Instance) mktime32(s []uint64) {
	tm := uint32(s[0])
	t, ms, ok := in.mktimeDate(tm)
	in.writeTmBack(tm, t, ok, false)
	if !ok {
		s[0] = 0
		return
	}
	s[0] = uint64(uint32(int32(int64(ms / 1000))))
}

func (in *Instance) mktime53(s []uint64) {
	tm := uint32(s[0])
	t, ms, ok := in.mktimeDate(tm)
	in.writeTmBack(tm, t, ok, true)
	ret := -1.0
	if ok {
		ret = ms / 1000
	}
	var hi uint32
	if math.Abs(ret) >= 1 {
		if ret > 0 {
			hi = toUint32(math.Floor(ret / 4294967296))
		} else {
			hi = toUint32(float64(int32(toUint32(math.Ceil((ret - float64(toUint32(float64(int32(toUint32(ret)))))) / 4294967296)))))
		}
	}
	if in.tempretSet != nil {
		in.mustCall(in.tempretSet, uint64(hi))
	} else {
		in.tempRet0 = hi
	}
	s[0] = uint64(toUint32(ret))
}

func (in *Instance) writeTmBack(tm uint32, t time.Time, ok, withYear bool) {
	put := func(off uint32, v int) {
		if !ok {
			v = 0
		}
		in.writeU32(tm+off, uint32(int32(v)))
	}
	put(24, int(t.Weekday()))
	put(28, t.YearDay()-1)
	put(0, t.Second())
	put(4, t.Minute())
	put(8, t.Hour())
	put(12, t.Day())
	put(16, int(t.Month())-1)
	if withYear {
		put(20, t.Year()-1900)
	}
}

// tzset3 is the older glue's _tzset_js(timezone, daylight, tzname): once per instance, the
// zone names are malloc'd (winter first) and tzname gets [summer, winter] for equal offsets.
func (in *Instance) tzset3(s []uint64) {
	if in.tzset {
		return
	}
	in.tzset = true
	in.writeU32(uint32(s[0]), 0)
	in.writeU32(uint32(s[1]), 0)
	const name = "Coordinated Universal Time"
	alloc := func() uint32 {
		p := uint32(in.mustCall(in.malloc, uint64(len(name)+1)))
		if p != 0 {
			in.writeBytes(p, append([]byte(name), 0))
		}
		return p
	}
	winter := alloc()
	summer := alloc()
	in.writeU32(uint32(s[2]), summer)
	in.writeU32(uint32(s[2])+4, winter)
}

// tzset4 is the newer glue's _tzset_js(timezone, daylight, std_name, dst_name); timezone
// is a long (8 bytes on wasm64).
func (in *Instance) tzset4(s []uint64) {
	in.writePtr(in.ptr(s[0]), 0)
	in.writeU32(in.ptr(s[1]), 0)
	in.writeBytes(in.ptr(s[3]), []byte("UTC\x00"))
	in.writeBytes(in.ptr(s[2]), []byte("UTC\x00"))
}

var (
	weekdays = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	months   = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
	monLeap  = []int{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	monReg   = []int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	rules1   = [][2]string{{"%c", "%a %b %d %H:%M:%S %Y"}, {"%D", "%m/%d/%y"}, {"%F", "%Y-%m-%d"}, {"%h", "%b"}, {"%r", "%I:%M:%S %p"}, {"%R", "%H:%M"}, {"%T", "%H:%M:%S"}, {"%x", "%m/%d/%y"}, {"%X", "%H:%M:%S"}, {"%Ec", "%c"}, {"%EC", "%C"}, {"%Ex", "%m/%d/%y"}, {"%EX", "%H:%M:%S"}, {"%Ey", "%y"}, {"%EY", "%Y"}, {"%Od", "%d"}, {"%Oe", "%e"}, {"%OH", "%H"}, {"%OI", "%I"}, {"%Om", "%m"}, {"%OM", "%M"}, {"%OS", "%S"}, {"%Ou", "%u"}, {"%OU", "%U"}, {"%OV", "%V"}, {"%Ow", "%w"}, {"%OW", "%W"}, {"%Oy", "%y"}}
	rules2   = []string{"%a", "%A", "%b", "%B", "%C", "%d", "%e", "%g", "%G", "%H", "%I", "%j", "%m", "%M", "%n", "%p", "%S", "%t", "%u", "%U", "%V", "%w", "%W", "%y", "%Y", "%z", "%Z", "%%"}
)

type tmFields struct {
	sec, min, hour, mday, mon, year, wday, yday, isdst, gmtoff int
	zone                                                       string
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func pad(s string, n int, c string) string {
	for len(s) < n {
		s = c + s
	}
	return s
}

func at(list []string, i int) string {
	if i < 0 || i >= len(list) {
		return "undefined"
	}
	return list[i]
}

// strftime is the glue's JavaScript strftime, rule by rule (strftime_l ignores the locale).
func (in *Instance) strftime(s []uint64) {
	dst, maxsize, fmtPtr, tmp := in.ptr(s[0]), in.size(s[1]), in.ptr(s[2]), in.ptr(s[3])
	g := func(off uint32) int { return int(int32(in.readU32(tmp + off))) }
	d := tmFields{sec: g(0), min: g(4), hour: g(8), mday: g(12), mon: g(16), year: g(20), wday: g(24), yday: g(28), isdst: g(32)}
	zone := tmp + 40
	if in.spec.ptr64 {
		// long tm_gmtoff and const char *tm_zone, 8-byte aligned.
		d.gmtoff, zone = int(int64(in.readU64(tmp+40))), tmp+48
	} else {
		d.gmtoff = g(36)
	}
	if z := in.readPtr(zone); z != 0 {
		d.zone = decodeUTF8JS(in.cString(z))
	}
	pattern := decodeUTF8JS(in.cString(fmtPtr))
	for _, r := range rules1 {
		pattern = strings.ReplaceAll(pattern, r[0], r[1])
	}
	pattern = strings.ReplaceAll(pattern, "%%", "\x00\x00")
	for _, rule := range rules2 {
		if strings.Contains(pattern, rule) {
			pattern = strings.ReplaceAll(pattern, rule, expand(rule, d))
		}
	}
	pattern = strings.ReplaceAll(pattern, "\x00\x00", "%")
	out := append([]byte(pattern), 0)
	if in.spec.ptr64 && math.IsNaN(i53From64(uint64(maxsize))) {
		maxsize = math.MaxInt64 // bytes.length > NaN is false
	}
	if int64(len(out)) > maxsize {
		s[0] = 0
		return
	}
	in.writeBytes(dst, out)
	s[0] = uint64(len(out) - 1)
}

func expand(rule string, d tmFields) string {
	num := strconv.Itoa
	switch rule {
	case "%a":
		w := at(weekdays, d.wday)
		return w[:min(3, len(w))]
	case "%A":
		return at(weekdays, d.wday)
	case "%b":
		m := at(months, d.mon)
		return m[:min(3, len(m))]
	case "%B":
		return at(months, d.mon)
	case "%C":
		return pad(num((d.year+1900)/100), 2, "0")
	case "%d":
		return pad(num(d.mday), 2, "0")
	case "%e":
		return pad(num(d.mday), 2, " ")
	case "%g":
		y := num(weekBasedYear(d))
		if len(y) < 2 {
			return ""
		}
		return y[2:]
	case "%G":
		return num(weekBasedYear(d))
	case "%H":
		return pad(num(d.hour), 2, "0")
	case "%I":
		h := d.hour
		if h == 0 {
			h = 12
		} else if h > 12 {
			h -= 12
		}
		return pad(num(h), 2, "0")
	case "%j":
		days := monReg
		if isLeap(d.year + 1900) {
			days = monLeap
		}
		sum := 0
		for i := 0; i <= d.mon-1 && i < len(days); i++ {
			sum += days[i]
		}
		return pad(num(d.mday+sum), 3, "0")
	case "%m":
		return pad(num(d.mon+1), 2, "0")
	case "%M":
		return pad(num(d.min), 2, "0")
	case "%n":
		return "\n"
	case "%p":
		if d.hour >= 0 && d.hour < 12 {
			return "AM"
		}
		return "PM"
	case "%S":
		return pad(num(d.sec), 2, "0")
	case "%t":
		return "\t"
	case "%u":
		if d.wday == 0 {
			return "7"
		}
		return num(d.wday)
	case "%U":
		return pad(num(floorDiv(d.yday+7-d.wday, 7)), 2, "0")
	case "%V":
		val := floorDiv(d.yday+7-(d.wday+6)%7, 7)
		if (d.wday+371-d.yday-2)%7 <= 2 {
			val++
		}
		if val == 0 {
			val = 52
			dec31 := (d.wday + 7 - d.yday - 1) % 7
			if dec31 == 4 || (dec31 == 5 && isLeap(d.year%400-1)) {
				val++
			}
		} else if val == 53 {
			jan1 := (d.wday + 371 - d.yday) % 7
			if jan1 != 4 && (jan1 != 3 || !isLeap(d.year)) {
				val = 1
			}
		}
		return pad(num(val), 2, "0")
	case "%w":
		return num(d.wday)
	case "%W":
		return pad(num(floorDiv(d.yday+7-(d.wday+6)%7, 7)), 2, "0")
	case "%y":
		y := num(d.year + 1900)
		if len(y) < 2 {
			return ""
		}
		return y[2:]
	case "%Y":
		return num(d.year + 1900)
	case "%z":
		off := float64(d.gmtoff)
		sign := "+"
		if off < 0 {
			sign = "-"
		}
		off = math.Abs(off) / 60
		off = off/60*100 + math.Mod(off, 60)
		v := "0000" + strconv.FormatFloat(off, 'f', -1, 64)
		return sign + v[len(v)-4:]
	case "%Z":
		return d.zone
	default: // "%%"
		return "%"
	}
}

func floorDiv(a, b int) int {
	return int(math.Floor(float64(a) / float64(b)))
}

func firstWeekStart(jan4 time.Time) time.Time {
	y := jan4.Year()
	switch jan4.Weekday() {
	case 0:
		return time.Date(y-1, 12, 29, 0, 0, 0, 0, time.UTC)
	case 1:
		return jan4
	case 2:
		return time.Date(y, 1, 3, 0, 0, 0, 0, time.UTC)
	case 3:
		return time.Date(y, 1, 2, 0, 0, 0, 0, time.UTC)
	case 4:
		return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
	case 5:
		return time.Date(y-1, 12, 31, 0, 0, 0, 0, time.UTC)
	default:
		return time.Date(y-1, 12, 30, 0, 0, 0, 0, time.UTC)
	}
}

func compareByDay(a, b time.Time) int {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	switch {
	case ay != by:
		return sign(ay - by)
	case am != bm:
		return sign(int(am) - int(bm))
	default:
		return sign(ad - bd)
	}
}

func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

func weekBasedYear(d tmFields) int {
	this := time.Date(d.year+1900, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, max(d.yday, 0))
	y := this.Year()
	thisStart := firstWeekStart(time.Date(y, 1, 4, 0, 0, 0, 0, time.UTC))
	nextStart := firstWeekStart(time.Date(y+1, 1, 4, 0, 0, 0, 0, time.UTC))
	if compareByDay(thisStart, this) <= 0 {
		if compareByDay(nextStart, this) <= 0 {
			return y + 1
		}
		return y
	}
	return y - 1
}
