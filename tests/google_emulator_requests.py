"""spreadsheets.batchUpdate for the emulator: every request kind it knows, all or nothing."""

from __future__ import annotations

import copy
import itertools
from typing import Any

from google_emulator_model import (
    ApiError,
    Cell,
    Sheet,
    Spreadsheet,
    apply_fields,
    chart_sources,
    from_extended,
    mask_wants,
    meta_sheet,
    parse_fields,
    resolve_grid,
    shift_cols,
    shift_rows,
)
from werkzeug.wrappers import Request


class BatchRequests:
    """The request kinds of spreadsheets.batchUpdate; mixed into the emulator."""

    books: dict[str, Spreadsheet]
    _ids: itertools.count[int]
    _meta_ids: itertools.count[int]

    def _lookup(self, book: Spreadsheet, look: dict[str, Any]) -> list[dict[str, Any]]:
        raise NotImplementedError

    # ---- spreadsheets.batchUpdate (all or nothing)

    def _spreadsheet_json(self, book: Spreadsheet, ranges: list[str], grid: bool) -> dict[str, Any]:
        raise NotImplementedError

    def _sheets_batch_update(self, request: Request, key: str) -> dict[str, Any]:
        """Documented: `updatedSpreadsheet` only with includeSpreadsheetInResponse, limited to
        responseRanges; grid data when responseIncludeGridData, or, when a field mask is set,
        when the mask asks for it (responseIncludeGridData is then ignored)."""
        book = self.books[key]
        body = request.get_json(force=True)
        before = copy.deepcopy(book.__dict__)
        replies = self._batch_update(book, body.get("requests", []))
        answer: dict[str, Any] = {"spreadsheetId": key, "replies": replies}
        mask = parse_fields(request.args.get("fields", ""))
        if body.get("includeSpreadsheetInResponse"):
            if mask:
                grid = mask_wants(mask, "updatedSpreadsheet", "sheets", "data")
            else:
                grid = bool(body.get("responseIncludeGridData"))
            try:
                answer["updatedSpreadsheet"] = self._spreadsheet_json(book, body.get("responseRanges") or [], grid)
            except ApiError:
                book.__dict__.update(before)  # a bad responseRange fails the whole call
                raise
        return dict(apply_fields(answer, mask))

    def _batch_update(self, book: Spreadsheet, requests: list[dict[str, Any]]) -> list[Any]:
        work = copy.deepcopy(book)
        replies = []
        for i, req in enumerate(requests):
            if len(req) != 1:
                raise ApiError(400, f"Invalid requests[{i}]: exactly one request kind expected")
            ((kind, spec),) = req.items()
            handler = getattr(self, f"_req_{kind}", None)
            if handler is None:
                raise ApiError(
                    400,
                    f"Invalid JSON payload received. Unknown name \"{kind}\" at 'requests[{i}]': Cannot find field.",
                )
            try:
                replies.append(handler(work, spec) or {})
            except ApiError as e:
                raise ApiError(e.code, f"Invalid requests[{i}].{kind}: {e.message}") from None
            except (KeyError, TypeError, ValueError) as e:
                raise ApiError(400, f"Invalid requests[{i}].{kind}: {e!r}") from None
        # Commit only when every request succeeded.
        book.__dict__.update(work.__dict__)
        return replies

    def _req_addSheet(self, book: Spreadsheet, spec: dict[str, Any]) -> dict[str, Any]:
        props = spec.get("properties", {})
        title = props.get("title") or f"Sheet{len(book.sheets) + 1}"
        if book.sheet_by_title(title) is not None and book.sheet_by_title(title).title.casefold() == title.casefold():
            raise ApiError(400, f'A sheet with the name "{title}" already exists. Please enter another name.')
        sheet_id = int(props.get("sheetId", next(self._ids)))
        if any(s.sheet_id == sheet_id for s in book.sheets):
            raise ApiError(400, f"A sheet with id {sheet_id} already exists")
        s = Sheet(sheet_id, title, int(props.get("index", len(book.sheets))))
        gp = props.get("gridProperties", {})
        s.row_count = gp.get("rowCount", 1000)
        s.column_count = gp.get("columnCount", 26)
        s.frozen_rows = gp.get("frozenRowCount", 0)
        s.frozen_cols = gp.get("frozenColumnCount", 0)
        s.tab_color = props.get("tabColor")
        for other in book.sheets:
            if other.index >= s.index:
                other.index += 1
        book.sheets.append(s)
        book.reindex()
        return {"addSheet": {"properties": s.properties()}}

    def _req_deleteSheet(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        s = book.sheet_by_id(spec["sheetId"])
        if len(book.sheets) == 1:
            raise ApiError(400, "You can't remove all the sheets in a document.")
        book.sheets.remove(s)
        book.metadata = [m for m in book.metadata if meta_sheet(m) != s.sheet_id]
        book.reindex()

    def _req_updateSheetProperties(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        props = spec["properties"]
        s = book.sheet_by_id(props["sheetId"])
        fields = [f.strip() for f in spec.get("fields", "").split(",") if f.strip()]
        if not fields:
            raise ApiError(400, "At least one field must be updated, but 'fields' is empty")
        for f in fields:
            if f == "title":
                other = book.sheet_by_title(props["title"])
                if other is not None and other is not s and other.title.casefold() == props["title"].casefold():
                    raise ApiError(
                        400, f'A sheet with the name "{props["title"]}" already exists. Please enter another name.'
                    )
                s.title = props["title"]
            elif f == "index":
                target = props["index"]
                s.index = target + 0.5 if target > s.index else target - 0.5
                book.reindex()
            elif f == "gridProperties.frozenRowCount":
                s.frozen_rows = props["gridProperties"].get("frozenRowCount", 0)
            elif f == "gridProperties.frozenColumnCount":
                s.frozen_cols = props["gridProperties"].get("frozenColumnCount", 0)
            elif f == "hidden":
                s.hidden = bool(props.get("hidden"))
            elif f == "tabColor":
                s.tab_color = props.get("tabColor")
            else:
                raise ApiError(400, f"Unsupported field in updateSheetProperties: {f}")

    def _req_updateSpreadsheetProperties(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        if "title" in spec.get("fields", ""):
            book.title = spec["properties"]["title"]

    def _req_repeatCell(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        g = resolve_grid(book, spec["range"])
        for r in range(g.r0, g.r1):
            for c in range(g.c0, g.c1):
                self._set_cell_fields(g.sheet, r, c, spec.get("cell", {}), spec["fields"])

    def _set_cell_fields(self, sheet: Sheet, r: int, c: int, data: dict[str, Any], fields: str) -> None:
        if r >= sheet.row_count or c >= sheet.column_count:
            raise ApiError(400, "Range exceeds grid limits")
        cell = sheet.cells.get((r, c)) or Cell()
        for f in [f.strip() for f in fields.split(",") if f.strip()]:
            top = f.split(".")[0].split("(")[0]
            if top == "userEnteredValue":
                ev = data.get("userEnteredValue")
                cell.value, cell.formula = from_extended(ev)
            elif top == "userEnteredFormat":
                fmt = data.get("userEnteredFormat", {})
                if f == "userEnteredFormat" or f == "*":
                    cell.fmt = copy.deepcopy(fmt)
                else:
                    path = f.split(".")[1:]
                    src, dst = fmt, cell.fmt
                    for part in path[:-1]:
                        src = src.get(part, {})
                        dst = dst.setdefault(part, {})
                    if path[-1] in src:
                        dst[path[-1]] = copy.deepcopy(src[path[-1]])
                    else:
                        dst.pop(path[-1], None)
            elif top == "dataValidation":
                cell.validation = data.get("dataValidation")
            elif top == "note":
                cell.note = data.get("note")
            elif top == "*":
                cell.value, cell.formula = from_extended(data.get("userEnteredValue"))
                cell.fmt = copy.deepcopy(data.get("userEnteredFormat", {}))
                cell.validation = data.get("dataValidation")
            else:
                raise ApiError(400, f"Unsupported cell field: {f}")
        sheet.cells[(r, c)] = cell

    def _req_updateCells(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        if "start" in spec:
            st = spec["start"]
            sheet = book.sheet_by_id(st.get("sheetId", 0))
            r0, c0 = st.get("rowIndex", 0), st.get("columnIndex", 0)
        else:
            g = resolve_grid(book, spec["range"])
            sheet, r0, c0 = g.sheet, g.r0, g.c0
        for i, row in enumerate(spec.get("rows", [])):
            for j, data in enumerate(row.get("values", [])):
                self._set_cell_fields(sheet, r0 + i, c0 + j, data, spec["fields"])

    def _req_appendCells(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        sheet = book.sheet_by_id(spec["sheetId"])
        start, _ = sheet.used_extent()
        rows = spec.get("rows", [])
        sheet.row_count = max(sheet.row_count, start + len(rows))
        for i, row in enumerate(rows):
            for j, data in enumerate(row.get("values", [])):
                self._set_cell_fields(sheet, start + i, j, data, spec["fields"])

    def _req_setDataValidation(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        g = resolve_grid(book, spec["range"])
        rule = spec.get("rule")
        if rule is not None and "condition" not in rule:
            raise ApiError(400, "Data validation rule needs a condition")
        for r in range(g.r0, g.r1):
            for c in range(g.c0, g.c1):
                cell = g.sheet.cells.setdefault((r, c), Cell())
                cell.validation = rule

    def _req_addConditionalFormatRule(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        rule = spec["rule"]
        ranges = [resolve_grid(book, g) for g in rule["ranges"]]
        if "booleanRule" not in rule and "gradientRule" not in rule:
            raise ApiError(400, "Conditional format rule needs booleanRule or gradientRule")
        sheet = ranges[0].sheet
        sheet.conditional.insert(int(spec.get("index", 0)), rule)

    def _req_addProtectedRange(self, book: Spreadsheet, spec: dict[str, Any]) -> dict[str, Any]:
        pr = copy.deepcopy(spec["protectedRange"])
        g = resolve_grid(book, pr["range"])
        pr["protectedRangeId"] = next(self._ids)
        g.sheet.protected.append(pr)
        return {"addProtectedRange": {"protectedRange": pr}}

    def _req_addChart(self, book: Spreadsheet, spec: dict[str, Any]) -> dict[str, Any]:
        chart = copy.deepcopy(spec["chart"])
        anchor = chart.get("position", {}).get("overlayPosition", {}).get("anchorCell", {})
        sheet_id = anchor.get("sheetId", chart.get("position", {}).get("sheetId"))
        if sheet_id is None:
            raise ApiError(400, "Chart position needs a sheet")
        sheet = book.sheet_by_id(sheet_id)
        if anchor.get("rowIndex", 0) >= sheet.row_count or anchor.get("columnIndex", 0) >= sheet.column_count:
            raise ApiError(400, "Chart anchor cell is outside the sheet's grid")
        for src in chart_sources(chart.get("spec", {})):
            resolve_grid(book, src)
        chart["chartId"] = next(self._ids)
        sheet.charts.append(chart)
        return {"addChart": {"chart": chart}}

    def _req_createDeveloperMetadata(self, book: Spreadsheet, spec: dict[str, Any]) -> dict[str, Any]:
        meta = copy.deepcopy(spec["developerMetadata"])
        loc = meta.get("location", {})
        if "dimensionRange" in loc:
            d = loc["dimensionRange"]
            s = book.sheet_by_id(d["sheetId"])
            limit = s.row_count if d["dimension"] == "ROWS" else s.column_count
            if not 0 <= d["startIndex"] < d["endIndex"] <= limit:
                raise ApiError(400, "Invalid dimensionRange for developer metadata")
            loc["locationType"] = "ROW" if d["dimension"] == "ROWS" else "COLUMN"
        elif "sheetId" in loc:
            book.sheet_by_id(loc["sheetId"])
            loc["locationType"] = "SHEET"
        elif loc.get("spreadsheet"):
            loc["locationType"] = "SPREADSHEET"
        else:
            raise ApiError(400, "Developer metadata needs a location")
        if "visibility" not in meta:
            raise ApiError(400, "Developer metadata needs a visibility")
        meta["metadataId"] = meta.get("metadataId") or next(self._meta_ids)
        if any(m["metadataId"] == meta["metadataId"] for m in book.metadata):
            raise ApiError(400, f"Metadata id {meta['metadataId']} already exists")
        book.metadata.append(meta)
        return {"createDeveloperMetadata": {"developerMetadata": meta}}

    def _req_updateDeveloperMetadata(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        targets = []
        for f in spec["dataFilters"]:
            targets += self._lookup(book, f["developerMetadataLookup"])
        new = spec["developerMetadata"]
        for m in targets:
            for f in spec["fields"].split(","):
                if f.strip() in ("metadataValue", "metadataKey", "visibility"):
                    m[f.strip()] = new.get(f.strip())

    def _req_deleteDeveloperMetadata(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        targets = self._lookup(book, spec["dataFilter"]["developerMetadataLookup"])
        ids = {m["metadataId"] for m in targets}
        book.metadata = [m for m in book.metadata if m["metadataId"] not in ids]

    def _req_insertDimension(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        r = spec["range"]
        s = book.sheet_by_id(r["sheetId"])
        n = r["endIndex"] - r["startIndex"]
        if r["dimension"] == "ROWS":
            shift_rows(book, s, r["startIndex"], n)
        else:
            shift_cols(book, s, r["startIndex"], n)

    def _req_appendDimension(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        s = book.sheet_by_id(spec["sheetId"])
        if spec["dimension"] == "ROWS":
            s.row_count += spec["length"]
        else:
            s.column_count += spec["length"]

    def _req_deleteDimension(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        r = spec["range"]
        s = book.sheet_by_id(r["sheetId"])
        n = r["endIndex"] - r["startIndex"]
        if r["dimension"] == "ROWS":
            shift_rows(book, s, r["endIndex"], -n)
        else:
            shift_cols(book, s, r["endIndex"], -n)

    def _req_moveDimension(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        src = spec["source"]
        if src["dimension"] != "ROWS":
            raise ApiError(400, "The emulator moves rows only")
        s = book.sheet_by_id(src["sheetId"])
        a, b, dest = src["startIndex"], src["endIndex"], spec["destinationIndex"]
        order = list(range(s.row_count))
        block = order[a:b]
        rest = order[:a] + order[b:]
        insert_at = dest if dest <= a else dest - (b - a)
        new_order = rest[:insert_at] + block + rest[insert_at:]
        old_to_new = {old: new for new, old in enumerate(new_order)}
        s.cells = {(old_to_new[r], c): cell for (r, c), cell in s.cells.items()}
        for m in book.metadata:
            d = m["location"].get("dimensionRange")
            if d and d["sheetId"] == s.sheet_id and d["dimension"] == "ROWS" and d["endIndex"] - d["startIndex"] == 1:
                d["startIndex"] = old_to_new[d["startIndex"]]
                d["endIndex"] = d["startIndex"] + 1

    def _req_sortRange(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        """Sort the values of a range. Row developer metadata stays where it is: the values move,
        the rows do not (the conservative reading; code must not rely on either)."""
        g = resolve_grid(book, spec["range"])
        rows = list(range(g.r0, g.r1))
        content = {r: {c: g.sheet.cells.get((r, c)) for c in range(g.c0, g.c1)} for r in rows}

        def sort_key(r: int) -> tuple[Any, ...]:
            out: list[Any] = []
            for s in spec.get("sortSpecs", []):
                cell = content[r].get(s.get("dimensionIndex", 0))
                value = book.effective(g.sheet, r, s.get("dimensionIndex", 0)) if cell else None
                text = "" if value is None else str(value)
                out.append((value is None, text))
            return tuple(out)

        order = sorted(rows, key=sort_key)
        descending = any(s.get("sortOrder") == "DESCENDING" for s in spec.get("sortSpecs", []))
        if descending:
            filled = [r for r in order if not sort_key(r)[0][0]]
            order = filled[::-1] + [r for r in order if r not in filled]
        for target, source in zip(rows, order, strict=True):
            for c in range(g.c0, g.c1):
                cell = content[source][c]
                if cell is None:
                    g.sheet.cells.pop((target, c), None)
                else:
                    g.sheet.cells[(target, c)] = cell

    def _req_updateDimensionProperties(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        r = spec["range"]
        s = book.sheet_by_id(r["sheetId"])
        if r["dimension"] == "COLUMNS" and "pixelSize" in spec["fields"]:
            for c in range(r["startIndex"], r["endIndex"]):
                s.col_widths[c] = spec["properties"]["pixelSize"]

    def _req_autoResizeDimensions(self, book: Spreadsheet, spec: dict[str, Any]) -> None:
        book.sheet_by_id(spec["dimensions"]["sheetId"])
