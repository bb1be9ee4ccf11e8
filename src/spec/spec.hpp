#pragma once
// The run spec vocabulary that the master, the workers and the Plexer share: a run spec and its
// life cycle, a device's identity (its index, MAC, addresses, EUI-64, prefix), its network mode
// and limits, the radio toward a base station and the ZEP radio among the devices. Below every
// component: it depends on none of them.
#include "spec/address.hpp"
#include "spec/identity.hpp"
#include "spec/instance_state.hpp"
#include "spec/net_mode.hpp"
#include "spec/radio.hpp"
#include "spec/run_spec.hpp"
#include "spec/zep.hpp"
