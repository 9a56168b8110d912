#pragma once
// `tessera data from-csv FILE --label COLUMN`: a CSV file with a header row (as pandas' to_csv(index=False)
// writes it; quoting as RFC 4180, parsed with libcsv) into x (n, features) f32, the columns in file order without
// the label, and y (n,): i64 when every label is a whole number, f32 otherwise; a label column of text becomes class
// indices in sorted order of the names, which are written as y's `classes` attribute. The files' `feature_columns`
// attribute names x's columns. A cell that is not a number is an error naming the file, line and column.
#include <string>

#include "io/convert/labelled_arrays.h"

namespace tessera::io {

struct CsvSource {
  std::string path;
  std::string label;  // the label column's name in the header
};

LabelledArrays read_csv_source(const CsvSource& source);

}  // namespace tessera::io
