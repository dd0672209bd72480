#include "plugin/allocator.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <string>

namespace ascend::plugin {
namespace {

// Free chips of one HCCS domain, and how many of them the request must take.
struct DomainFree {
  int domain = 0;
  std::vector<int> free;  // sorted
  int must = 0;           // must_include chips in this domain
};

// Takes `count` chips of a domain: its must_include chips first, then the lowest ids.
void take_from(const DomainFree& d, int count, const std::set<int>& must, std::vector<int>& out) {
  int taken = 0;
  for (int id : d.free) {
    if (taken < count && must.count(id) != 0) {
      out.push_back(id);
      ++taken;
    }
  }
  for (int id : d.free) {
    if (taken < count && must.count(id) == 0) {
      out.push_back(id);
      ++taken;
    }
  }
}

}  // namespace

Result<Preference> Allocator::choose(const PreferredRequest& request) const {
  std::set<int> offered(request.available.begin(), request.available.end());
  const std::set<int> must(request.must_include.begin(), request.must_include.end());
  offered.insert(must.begin(), must.end());
  const int size = request.size;
  if (size < 1) {
    return invalid_argument("allocation size " + std::to_string(size) + " is not positive");
  }
  if (static_cast<int>(offered.size()) < size) {
    return invalid_argument("allocation size " + std::to_string(size) + " exceeds the " +
                            std::to_string(offered.size()) + " chips offered");
  }
  if (static_cast<int>(must.size()) > size) {
    return invalid_argument(std::to_string(must.size()) +
                            " must-include chips exceed allocation size " + std::to_string(size));
  }

  std::map<int, DomainFree> by_domain;
  for (int id : offered) {
    DomainFree& d = by_domain[topology_.domain_of(id)];
    d.domain = topology_.domain_of(id);
    d.free.push_back(id);
    if (must.count(id) != 0) ++d.must;
  }
  std::vector<DomainFree> domains;
  domains.reserve(by_domain.size());
  for (auto& [index, d] : by_domain)
    domains.push_back(std::move(d));

  // Order in which domains are tried (see AllocationPolicy).
  std::vector<const DomainFree*> order;
  order.reserve(domains.size());
  for (const DomainFree& d : domains)
    order.push_back(&d);
  const auto domain_size = static_cast<std::size_t>(topology_.domain_size());
  if (policy_ == AllocationPolicy::kKeepWhole && domain_size > 0) {
    std::stable_partition(order.begin(), order.end(),
                          [&](const DomainFree* d) { return d->free.size() < domain_size; });
  } else if (policy_ == AllocationPolicy::kFewestFree) {
    std::stable_sort(order.begin(), order.end(), [](const DomainFree* a, const DomainFree* b) {
      return a->free.size() < b->free.size();
    });
  }

  Preference out;
  out.valid_size = topology_.valid_size(size);
  const int total_must = static_cast<int>(must.size());

  // Inside HCCS domains: split the request evenly over the fewest domains that can hold it.
  const int per_domain_max = topology_.domain_size();
  const int span = per_domain_max == 0 ? 1 : (size + per_domain_max - 1) / per_domain_max;
  if (size % span == 0) {
    const int per_domain = size / span;
    std::vector<const DomainFree*> chosen;
    int must_covered = 0;
    // Domains holding must_include chips are forced; then the policy order fills the rest.
    for (const DomainFree* d : order) {
      if (d->must > 0 && static_cast<int>(d->free.size()) >= per_domain && d->must <= per_domain) {
        chosen.push_back(d);
        must_covered += d->must;
      }
    }
    if (must_covered == total_must && static_cast<int>(chosen.size()) <= span) {
      for (const DomainFree* d : order) {
        if (static_cast<int>(chosen.size()) == span) break;
        if (d->must == 0 && static_cast<int>(d->free.size()) >= per_domain) chosen.push_back(d);
      }
      if (static_cast<int>(chosen.size()) == span) {
        for (const DomainFree* d : chosen)
          take_from(*d, per_domain, must, out.chips);
        std::sort(out.chips.begin(), out.chips.end());
        return out;
      }
    }
  }

  // No placement inside domains: touch as few domains as possible, must_include ones first,
  // then the domains with the most free chips.
  out.within_domains = false;
  std::vector<const DomainFree*> fallback = order;
  std::stable_sort(fallback.begin(), fallback.end(), [](const DomainFree* a, const DomainFree* b) {
    if ((a->must > 0) != (b->must > 0)) return a->must > 0;
    return a->free.size() > b->free.size();
  });
  // Must-include chips are taken before anything else so that they always fit.
  for (const DomainFree* d : fallback)
    take_from(*d, d->must, must, out.chips);
  int remaining = size - total_must;
  for (const DomainFree* d : fallback) {
    for (int id : d->free) {
      if (remaining == 0) break;
      if (must.count(id) == 0) {
        out.chips.push_back(id);
        --remaining;
      }
    }
  }
  std::sort(out.chips.begin(), out.chips.end());
  return out;
}

}  // namespace ascend::plugin
