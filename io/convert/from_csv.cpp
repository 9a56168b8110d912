#include "io/convert/from_csv.h"

#include <csv.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <system_error>

#include "core/check.h"

namespace tessera::io {

namespace {

// Fields of each record as libcsv hands them over; records (lines) kept whole, the file is read at once.
struct Records {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> current;
};

void on_field(void* text, size_t length, void* records) {
  static_cast<Records*>(records)->current.emplace_back(static_cast<const char*>(text), length);
}

void on_record(int /*terminator*/, void* records) {
  auto* r = static_cast<Records*>(records);
  r->rows.push_back(std::move(r->current));
  r->current.clear();
}

Records parse_records(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TESSERA_CHECK(in.good(), "cannot open CSV file '", path, "'");
  std::ostringstream text;
  text << in.rdbuf();
  std::string bytes = text.str();
  // Excel's "CSV UTF-8" starts with a byte order mark; pandas drops it. Kept, it becomes part of the first column's
  // name, and --label NAME then finds no such column although the error lists it (the mark does not print).
  if (bytes.starts_with("\xEF\xBB\xBF")) bytes.erase(0, 3);
  csv_parser parser;
  TESSERA_CHECK(csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI) == 0, "libcsv: cannot initialise a parser");
  Records records;
  const bool parsed = csv_parse(&parser, bytes.data(), bytes.size(), on_field, on_record, &records) == bytes.size() &&
                      csv_fini(&parser, on_field, on_record, &records) == 0;
  const std::string error = csv_strerror(csv_error(&parser));
  csv_free(&parser);
  TESSERA_CHECK(parsed, "CSV file '", path, "' cannot be parsed after line ", records.rows.size(), ": ", error);
  return records;
}

std::optional<double> number(const std::string& cell) {
  const char* begin = cell.data() + (cell.starts_with('+') ? 1 : 0);
  const char* end = cell.data() + cell.size();
  double value = 0;
  const auto [stop, error] = std::from_chars(begin, end, value);
  if (error != std::errc() || stop != end || begin == end) return std::nullopt;
  return value;
}

// Labels as stored: numbers (i64 when all whole, else f32) or, when any is text, class names in sorted order.
void fill_labels(const std::vector<std::string>& cells, const std::string& path, const std::string& column,
                 LabelledArrays& data) {
  const int64_t n = static_cast<int64_t>(cells.size());
  std::vector<double> values;
  for (const std::string& cell : cells) {
    const auto value = number(cell);
    if (!value) break;
    values.push_back(*value);
  }
  if (static_cast<int64_t>(values.size()) == n) {
    const bool whole =
        std::all_of(values.begin(), values.end(), [](double v) { return std::isfinite(v) && v == std::trunc(v); });
    data.y = RowArray::zeros(whole ? h5::ElementType::i64 : h5::ElementType::f32, {n});
    for (int64_t i = 0; i < n; ++i) {
      const double value = values[static_cast<size_t>(i)];
      if (whole) {
        data.y.data<int64_t>()[i] = static_cast<int64_t>(value);
        continue;
      }
      // As for the features: a nan target (np.savetxt's missing value) makes every mse/l1/huber loss NaN.
      TESSERA_CHECK(std::isfinite(static_cast<float>(value)), "CSV file '", path, "' line ", i + 2,
                    ", label column '", column, "': '", cells[static_cast<size_t>(i)],
                    "' is not a finite float32 (a missing value?); fill or drop it before converting");
      data.y.data<float>()[i] = static_cast<float>(value);
    }
    return;
  }
  std::map<std::string, int64_t> classes;
  for (size_t i = 0; i < cells.size(); ++i) {
    TESSERA_CHECK(!cells[i].empty() && cells[i].find(',') == std::string::npos, "CSV file '", path, "' line ", i + 2,
                  ", label column '", column, "': '", cells[i], "' is not a class name (empty, or holds a comma)");
    classes.emplace(cells[i], 0);
  }
  std::string names;
  int64_t next = 0;
  for (auto& [name, index] : classes) {
    index = next++;
    names += (names.empty() ? "" : ",") + name;
  }
  data.y = RowArray::zeros(h5::ElementType::i64, {n});
  for (int64_t i = 0; i < n; ++i) data.y.data<int64_t>()[i] = classes.at(cells[static_cast<size_t>(i)]);
  data.classes = names;
}

}  // namespace

LabelledArrays read_csv_source(const CsvSource& source) {
  const std::string& path = source.path;
  Records records = parse_records(path);
  TESSERA_CHECK(!records.rows.empty(), "CSV file '", path, "' is empty; expected a header row naming the columns");
  const std::vector<std::string>& header = records.rows[0];
  const auto label_at = std::find(header.begin(), header.end(), source.label);
  if (label_at == header.end()) {
    std::string names;
    for (const auto& name : header) names += (names.empty() ? "'" : ", '") + name + "'";
    TESSERA_THROW("CSV file '", path, "' has no column '", source.label, "' for --label (its header names ", names,
                  ")");
  }
  const size_t label = static_cast<size_t>(label_at - header.begin());
  const int64_t n = static_cast<int64_t>(records.rows.size()) - 1;
  const int64_t features = static_cast<int64_t>(header.size()) - 1;
  TESSERA_CHECK(n > 0, "CSV file '", path, "' has a header but no rows");
  TESSERA_CHECK(features > 0, "CSV file '", path, "' has only the label column '", source.label, "'; no features");
  LabelledArrays data{.x = RowArray::zeros(h5::ElementType::f32, {n, features}), .x_layout = "N,F"};
  std::vector<std::string> labels;
  float* x = data.x.data<float>();
  for (int64_t r = 0; r < n; ++r) {
    const std::vector<std::string>& row = records.rows[static_cast<size_t>(r + 1)];
    TESSERA_CHECK(row.size() == header.size(), "CSV file '", path, "' line ", r + 2, " has ", row.size(),
                  " fields but the header has ", header.size());
    for (size_t c = 0; c < row.size(); ++c) {
      if (c == label) {
        labels.push_back(row[c]);
        continue;
      }
      const auto value = number(row[c]);
      TESSERA_CHECK(value, "CSV file '", path, "' line ", r + 2, ", column '", header[c], "' (column ", c + 1, "): '",
                    row[c], "' is not a number");
      // from_chars takes "nan" and "inf" (np.savetxt writes missing values so), and 1e39 overflows float32: such a
      // feature turns the first batch holding it, and then every weight, into NaN, far from this file.
      TESSERA_CHECK(std::isfinite(static_cast<float>(*value)), "CSV file '", path, "' line ", r + 2, ", column '",
                    header[c], "' (column ", c + 1, "): '", row[c], "' is not a finite float32 (a missing value?); ",
                    "fill or drop it before converting");
      *x++ = static_cast<float>(*value);
    }
  }
  fill_labels(labels, path, source.label, data);
  std::string columns;
  for (size_t c = 0; c < header.size(); ++c) {
    if (c != label) columns += (columns.empty() ? "" : ",") + header[c];
  }
  data.attributes = {{"source", path},
                     {"converter", "tessera data from-csv"},
                     {"label_column", source.label},
                     {"feature_columns", columns}};
  return data;
}

}  // namespace tessera::io
