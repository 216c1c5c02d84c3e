package bpf

// Attach modes for Options.AttachMode.
const (
	AttachAuto = "auto" // TCX where the kernel has it (Linux 6.6), else tc
	AttachTCX  = "tcx"  // TCX links, detached when the engine closes or its process dies
	AttachTC   = "tc"   // direct-action bpf filters on a clsact qdisc, removed by Close
)
