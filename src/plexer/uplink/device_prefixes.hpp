#pragma once
// Routes to the devices' own IPv6 prefixes. A Contiki-NG native device numbers itself from a
// prefix of its own (contikiPrefix(id)), behind its instance's tun0, which the instance's
// kernel routes to. The radio namespace routes each such prefix to its device's address on the
// radio network, in its main table; two rules per run send packets from the run's own
// addresses and prefixes to its prefixes there, ahead of the devices' table, so that a run's
// devices still cannot reach another run's.
#include <set>
#include <string>

#include "common/result.hpp"
#include "spec/identity.hpp"

namespace kuiga::plexer {

// Adds the routes of device `id`'s prefix (and the run's gateway, openGateway()).
VoidResult routeDevicePrefix(int radioNetnsFd, InstanceId id);
// Routes exactly the prefixes of the run's devices `indices`, wherever they run (a device on
// another worker is reached over the run's radio network, by its static neighbour entry): the
// host of a run's cell routes every device's. Others go, and with no index left the run's
// rules too (a relay routes none: its devices' packets are routed by the cell's host).
VoidResult routeRunPrefixes(int radioNetnsFd, RunId run, const std::set<uint32_t>& indices);
// Removes the prefix routes (and rules) of every run not in `live`; returns how many went.
Result<size_t> dropDevicePrefixes(int radioNetnsFd, const std::set<RunId>& live);

}  // namespace kuiga::plexer
