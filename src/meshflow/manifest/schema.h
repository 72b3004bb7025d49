// JSON Schema (draft 2020-12) of manifest v1, for editors (yaml-language-server) and
// `meshflow-launch --schema`. `node_types` lists the known friendly node names for the `type` enum
// hint (any element factory name is also accepted, so it is an example list, not an enum).
#pragma once

#include <string>
#include <vector>

namespace mf::manifest {
std::string json_schema(const std::vector<std::string> &node_types);
}
