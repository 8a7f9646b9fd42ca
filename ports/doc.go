// Package ports holds the interfaces between webhookd's core and the world,
// and the parameter and result structs they need. Nothing else lives here:
// no implementations and no third-party imports.
//
// "Port" here means an interface in the hexagonal sense, both driven (the
// core calls it: EventStore, Sender, Clock, Wakeup, Metrics) and driving
// (the world calls the core through it: Events). Every technology, inbound
// (gin) and outbound (bun, net/http), lives under adapters/.
//
// Each driven port has a contract suite in ports/porttest that the in-memory
// fake and every real adapter must pass.
package ports
