#pragma once
// Where things go, as pure functions of what the master knows: a run's instances over the
// workers' free room, and a run's cell (its gateway, UE leases, medium and ZEP dispatcher) on
// one plexer or worker. No state, no locks, no I/O: tested on their own.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace kuiga::master {

struct NodeRoom {
  std::string name;
  uint64_t capacity = 0;
  uint64_t load = 0;  // instances placed on it already
};

// The node of each of `count` instances, greedy by free room: each goes to the node with the
// most room left (equal nodes fill evenly, bigger ones more; ties go to the name that sorts
// last, for one answer per input). Empty when they do not fit.
std::vector<std::string> placeInstances(uint32_t count, const std::vector<NodeRoom>& nodes);
// The node of each of `indices`, in their order, keeping each group whole (isolation: group;
// the devices index / groupSize share a group's init and its one address on the radio
// network, so they must share a node): each group goes to the node with the most room left,
// which must hold all of it. groupSize 1 places each instance on its own, as placeInstances.
// Empty when they do not fit.
std::vector<std::string> placeGroups(const std::vector<uint32_t>& indices, uint32_t groupSize,
                                     const std::vector<NodeRoom>& nodes);

// How many more instances the nodes take.
uint64_t freeRoom(const std::vector<NodeRoom>& nodes);

struct CellChoice {
  const std::map<std::string, std::vector<uint32_t>>& byWorker;  // the run's live devices
  const std::map<std::string, std::string>& underlay;  // of the online participants ("" none)
  std::map<std::string, size_t> plexers;  // online plexers with an underlay: cells they hold
  std::string current;                    // where the cell is now ("" nowhere)
  bool currentIsPlexer = false;           // and that plexer still has a session
};

// A plexer holds the cell when there is one: the one holding it already while it is a session
// (online, or away and not yet lost), else the one with the fewest cells. Without plexers, the
// cell stays on its worker while that worker holds devices of the run (online or not: its
// devices come back with it), or goes to the worker holding the lowest device index, of those
// the others can reach (no underlay address: not): the same answer from the same placement, so
// a restarted master puts it back where it was. "" when no node can hold it.
std::string chooseCellHost(const CellChoice& c);

}  // namespace kuiga::master
