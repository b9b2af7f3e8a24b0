// File: client/ctl/table_printer.h
// -----------------------------------------------------------------------------
// Aligned text tables for paramsyncctl's --output=table: a header row, then
// rows, each column as wide as its widest cell, columns two spaces apart.
//
// Example:
//   TablePrinter table({"AGENT", "ADDRESS"});
//   table.AddRow({"agent-1", "127.0.0.1:7001"});
//   std::cout << table.ToString();
#ifndef PARAMSYNC_CLIENT_CTL_TABLE_PRINTER_H_
#define PARAMSYNC_CLIENT_CTL_TABLE_PRINTER_H_

#include <string>
#include <vector>

namespace paramsync::ctl {

class TablePrinter {
 public:
  explicit TablePrinter(std::vector<std::string> header);

  // A row shorter than the header is padded with empty cells; a longer one
  // widens the table.
  void AddRow(std::vector<std::string> cells);

  // Every row, the header first, each line ending in '\n' and without trailing
  // spaces.
  std::string ToString() const;

 private:
  std::vector<std::vector<std::string>> rows_;  // rows_[0] is the header.
};

}  // namespace paramsync::ctl

#endif  // PARAMSYNC_CLIENT_CTL_TABLE_PRINTER_H_
