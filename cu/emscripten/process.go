package emscripten

import (
	"context"

	"github.com/aonode/aonode/cu/module"
)

// Process evaluates a message stream the way the reference CU drives the loader
// (servers/cu/src/effects/worker/evaluate.js): each message starts from the memory the last
// successful one left; a result with Error keeps the previous memory and drops the instance,
// and the next message runs on a new instance given that memory.
type Process struct {
	mod    *Module
	inst   *Instance
	mem    []byte // kept memory while no instance holds it
	hasMem bool
}

// NewProcess starts a stream from memory (nil: a new process, cold start on first message).
func (m *Module) NewProcess(memory []byte) *Process {
	return &Process{mod: m, mem: memory, hasMem: memory != nil}
}

// Eval evaluates one message. Results with Error (including Threw) are not errors; the
// returned error reports host failures (invalid input, cancelled context, instantiation).
func (p *Process) Eval(ctx context.Context, msg, env []byte) (module.Result, error) {
	if p.inst == nil {
		var mem []byte
		if p.hasMem {
			mem = p.mem
		}
		inst, err := p.mod.Instantiate(ctx, mem)
		if err != nil {
			return module.Result{}, err
		}
		p.inst, p.mem = inst, nil
	}
	res, err := p.inst.Handle(ctx, msg, env)
	if err != nil || res.Error != nil {
		if p.hasMem {
			p.mem = append([]byte(nil), p.inst.Memory()...)
		}
		_ = p.inst.Close(ctx)
		p.inst = nil
		return res, err
	}
	p.hasMem = true
	return res, nil
}

// Memory returns the memory the CU keeps after the last message (nil before any exists).
// It aliases the live instance and is valid until the next Eval or Close.
func (p *Process) Memory() []byte {
	if !p.hasMem {
		return nil
	}
	if p.inst != nil {
		return p.inst.Memory()
	}
	return p.mem
}

// Close releases the current instance.
func (p *Process) Close(ctx context.Context) error {
	if p.inst == nil {
		return nil
	}
	err := p.inst.Close(ctx)
	p.inst = nil
	return err
}
