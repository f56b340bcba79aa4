package scan

import "fmt"

// Amplification: a pickle builds each object once, but memo GETs and DUP
// push the same object again, so a few hundred bytes can build ten lists
// that each hold the next one ten times — a value with 10^10 elements
// ("billion laughs"). Unpickling it is cheap; anything that walks it
// (printing, copying, comparing, json, a state-dict loader) is not, and
// hashing such a tuple as a dict key or set member walks it inside
// pickle.load itself (tuple hashes are not cached). The walker records
// which container holds which, and counts the expansion at the end without
// building it: each object once, memoized, O(objects + references).

// Thresholds of the expansion that is reported as a denial of service.
var (
	MaxLogicalElements uint64 = 1 << 24 // elements the unpickled value may reach through shared references
	MaxHashedElements  uint64 = 1 << 20 // elements one hashed key may reach
)

// object kinds the graph tells apart
const (
	kindNone uint8 = iota
	kindList
	kindDict
	kindSet
	kindFrozenSet
	kindTuple
	kindObject // the result of a call (REDUCE, NEWOBJ, OBJ, INST) or BINPERSID
)

var kindNames = [...]string{"value", "list", "dict", "set", "frozenset", "tuple", "object"}

const sizeCap = uint64(1) << 62

// graph holds the containers a pickle builds (node 0 stands for every
// scalar) and what each holds.
type graph struct {
	kind   []uint8
	leaves []uint32 // scalar members (strings, numbers, globals ...)
	head   []int32  // first member edge, -1 when none
	at     []int64  // offset of the opcode that built it
	child  []int32  // edge: member node
	next   []int32  // edge: next edge of the same container
	hashed []int32  // nodes used as dict keys or set members
}

func newGraph() *graph {
	g := &graph{}
	g.add(kindNone, 0) // node 0: scalars
	return g
}

func (g *graph) add(kind uint8, at int64) int32 {
	g.kind = append(g.kind, kind)
	g.leaves = append(g.leaves, 0)
	g.head = append(g.head, -1)
	g.at = append(g.at, at)
	return int32(len(g.kind) - 1)
}

// member records that container p holds c.
func (g *graph) member(p, c int32) {
	if p == 0 {
		return
	}
	if c == 0 {
		if g.leaves[p] < 1<<32-1 {
			g.leaves[p]++
		}
		return
	}
	g.child = append(g.child, c)
	g.next = append(g.next, g.head[p])
	g.head[p] = int32(len(g.child) - 1)
}

// node builds a container holding members (a call's result holds its
// arguments).
func (s *pickleScan) node(kind uint8, at int64, members ...sym) sym {
	if s.graph == nil {
		return sym{}
	}
	n := s.graph.add(kind, at)
	for _, m := range members {
		s.graph.member(n, m.node)
	}
	return sym{node: n}
}

// hold records that the container v holds members. Tuples and frozensets
// cannot be changed (CPython's load fails there), so they hold nothing more.
func (s *pickleScan) hold(v sym, members ...sym) {
	if s.graph == nil || s.graph.kind[v.node] == kindTuple || s.graph.kind[v.node] == kindFrozenSet {
		return
	}
	for _, m := range members {
		s.graph.member(v.node, m.node)
	}
}

// hash records members used as dict keys or set members; the ones CPython
// cannot hash fail the load there.
func (s *pickleScan) hash(at int64, members ...sym) {
	if s.graph == nil {
		return
	}
	for _, m := range members {
		if m.node == 0 {
			continue
		}
		switch k := s.graph.kind[m.node]; k {
		case kindList, kindDict, kindSet:
			if !s.unhashable {
				s.unhashable = true
				s.finding(SeveritySuspicious, at, "a %s (built at offset %d) used as a dict key or set member: CPython cannot hash it, so the load fails here (a dict or set holding itself is one such case); no pickler writes this", kindNames[k], s.graph.at[m.node])
			}
		default:
			s.graph.hashed = append(s.graph.hashed, m.node)
		}
	}
}

// expansion reports, once the pickle has been walked, how far its value
// expands and any container that holds itself. root is the value STOP
// returns.
func (s *pickleScan) expansion(root sym, at int64) {
	g := s.graph
	if g == nil || len(g.kind) <= 1 {
		return
	}
	size := make([]uint64, len(g.kind)) // 0: not yet known
	state := make([]uint8, len(g.kind)) // 0 new, 1 on the path, 2 done
	cycleAt := int32(-1)
	type frame struct {
		n int32
		e int32 // next edge to follow
	}
	var path []frame
	measure := func(n int32) uint64 {
		if n == 0 {
			return 1
		}
		if state[n] == 2 {
			return size[n]
		}
		path = append(path[:0], frame{n, g.head[n]})
		state[n] = 1
		size[n] = 1 + uint64(g.leaves[n])
		for len(path) > 0 {
			top := &path[len(path)-1]
			if top.e < 0 {
				state[top.n] = 2
				done := top.n
				path = path[:len(path)-1]
				if len(path) > 0 {
					p := path[len(path)-1].n
					size[p] = min(sizeCap, size[p]+size[done])
				}
				continue
			}
			c := g.child[top.e]
			top.e = g.next[top.e]
			switch state[c] {
			case 2:
				size[top.n] = min(sizeCap, size[top.n]+size[c])
			case 1: // a container that holds itself: count the reference once
				size[top.n] = min(sizeCap, size[top.n]+1)
				if cycleAt < 0 {
					cycleAt = c
				}
			default:
				state[c] = 1
				size[c] = 1 + uint64(g.leaves[c])
				path = append(path, frame{c, g.head[c]})
			}
		}
		return size[n]
	}
	objects := uint64(len(g.kind)) + uint64(s.objects)
	if total := measure(root.node); total > MaxLogicalElements && total > 16*objects {
		s.dosFinding(at, "the unpickled value holds %s elements built from %d objects: memo GET/DUP reuse the same containers level upon level (\"billion laughs\"), so anything that walks the value — printing, copying, comparing, saving, a state-dict loader — takes time and memory exponential in the pickle's size", countWords(total), objects)
	}
	for _, n := range g.hashed {
		if sz := measure(n); sz > MaxHashedElements {
			s.dosFinding(g.at[n], "a %s used as a dict key or set member reaches %s elements through shared references: CPython hashes it element by element while unpickling (tuple hashes are not cached), so pickle.load itself runs for hours", kindNames[g.kind[n]], countWords(sz))
			break
		}
	}
	if cycleAt >= 0 {
		s.finding(SeveritySuspicious, g.at[cycleAt], "a %s that holds itself: CPython builds it, but no checkpoint does, and a reader that walks it without remembering what it has seen never ends", kindNames[g.kind[cycleAt]])
	}
}

func (s *pickleScan) dosFinding(at int64, msg string, args ...any) {
	s.report.AddFinding(Finding{Severity: SeverityDangerous, Kind: KindDoS, Where: s.where(at), Message: "denial of service: " + fmt.Sprintf(msg, args...)})
}

// countWords prints an element count for a message ("about 1.0e+10").
func countWords(n uint64) string {
	if n >= sizeCap {
		return "more than 4.6e+18"
	}
	if n < 1e6 {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("about %.1e", float64(n))
}
