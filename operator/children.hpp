// What a LlamaFactoryJob's children (worker Pods, Services, ConfigMap) are called and how they
// point back at the job: the names other children and users resolve (a Pod's MASTER_ADDR, the
// status endpoints), the labels every child carries, the owner reference.
#pragma once

#include <string>

#include "operator/job.hpp"

namespace ascend::op {

/// `<job>-worker-<rank>`: also the Pod's hostname.
std::string pod_name(const std::string& job, int rank);
/// The headless rendezvous Service, `<job>-workers`: also every Pod's subdomain.
std::string headless_service_name(const std::string& job);
/// The Service for ports 7860 and 8000 of rank 0: `<job>`, the job's own name.
std::string service_name(const std::string& job);
/// The ConfigMap the operator writes for an inline spec.config, `<job>-config`.
std::string config_map_name(const std::string& job);

/// Whether the job has the headless rendezvous Service: a train job of more than one rank (the
/// ranks meet at rank 0's DNS name). A single rank meets itself on the loopback address.
bool needs_rendezvous_service(const Job& job);
/// Whether the job has the Service for ports 7860 and 8000: the serving modes (webui, api,
/// webchat). A train or export job serves neither port.
bool needs_serving_service(const Job& job);

/// MASTER_ADDR: rank 0's stable DNS name through the headless Service,
/// `<job>-worker-0.<job>-workers.<ns>.svc`, for more than one rank; `127.0.0.1` for one.
std::string master_address(const Job& job);
/// `http://<job>.<ns>.svc:<port>`, a port of the job's Service (status.endpoints).
std::string service_url(const Job& job, int port);

/// The controller owner reference to the job (blockOwnerDeletion, so the garbage collector's
/// foreground deletion waits for the children).
Json owner_reference(const Job& job);
/// The labels every child carries: job-name (what the operator's caches select and Services
/// select Pods by) and managed-by.
Json child_labels(const Job& job);
/// `metadata` of a child called `name`: its namespace, child_labels() and the one owner
/// reference.
Json child_metadata(const Job& job, const std::string& name);

}  // namespace ascend::op
