#include "common/layouts/framework_shards.h"

#include <algorithm>
#include <vector>

namespace paramsync::layouts {

TensorLayout RowParallelShard(const LogicalParam& param, int parts, int part) {
  const int64_t columns = param.shape[1] / parts;
  return Columns(param, part * columns, columns);
}

TensorLayout GateUpShard(const LogicalParam& gate, const LogicalParam& up, int parts, int part) {
  const int64_t rows = gate.shape[0] / parts;
  return StackRows({Rows(gate, part * rows, rows), Rows(up, part * rows, rows)});
}

TensorLayout MegatronQkvShard(const LogicalParam& q, const LogicalParam& k, const LogicalParam& v,
                              const AttentionHeads& heads, int parts, int part) {
  const int64_t groups = heads.kv_heads / parts;
  const int64_t q_rows = heads.heads / heads.kv_heads * heads.head_dim;
  std::vector<TensorLayout> blocks;
  for (int64_t group = part * groups; group < (part + 1) * groups; ++group) {
    blocks.push_back(Rows(q, group * q_rows, q_rows));
    blocks.push_back(Rows(k, group * heads.head_dim, heads.head_dim));
    blocks.push_back(Rows(v, group * heads.head_dim, heads.head_dim));
  }
  return StackRows(blocks);
}

TensorLayout VllmQkvShard(const LogicalParam& q, const LogicalParam& k, const LogicalParam& v,
                          const AttentionHeads& heads, int parts, int part) {
  const int64_t q_rows = heads.heads / parts * heads.head_dim;
  int64_t kv_first = 0, kv_count = 0;
  if (parts >= heads.kv_heads) {
    kv_first = part / (parts / heads.kv_heads);
    kv_count = 1;
  } else {
    kv_count = heads.kv_heads / parts;
    kv_first = part * kv_count;
  }
  const int64_t kv_rows = kv_count * heads.head_dim;
  const int64_t kv_start = kv_first * heads.head_dim;
  return StackRows(
      {Rows(q, part * q_rows, q_rows), Rows(k, kv_start, kv_rows), Rows(v, kv_start, kv_rows)});
}

TensorLayout VocabShard(const LogicalParam& param, int64_t padded_rows, int parts, int part) {
  const int64_t rows = padded_rows / parts;
  const int64_t start = part * rows;
  const int64_t real = std::clamp<int64_t>(param.shape[0] - start, 0, rows);
  std::vector<TensorLayout> blocks{Rows(param, start, real)};
  if (real < rows) {
    blocks.push_back(PaddingRows(rows - real, Shape(param.shape.begin() + 1, param.shape.end())));
  }
  return StackRows(blocks);
}

}  // namespace paramsync::layouts
