/* okr-sync Excel add-in client: reads the OKR sheets through the Excel JavaScript API, asks the
 * okr-sync server to validate or score them, and writes back only the cells the service owns,
 * in one batch. No framework, no build step; works with Office.js or any object that offers the
 * same small subset of the API (the browser tests inject one). */
(function (global) {
  "use strict";

  var NOTE_MARK = "okr-sync: ";
  var TOKEN_KEY = "okrSyncToken";

  function OkrError(message, status) {
    this.name = "OkrError";
    this.message = message;
    this.status = status || 0;
  }
  OkrError.prototype = Object.create(Error.prototype);

  var TEXT = {
    en: {
      noOkrs: "This workbook has no OKRs sheet. Add one (see the OKR workbook standard) and try again.",
      noToken: "Paste the access token from your okr-sync admin into the pane first.",
      network: "Cannot reach the okr-sync server: ",
      unauthorized: "The server refused the token. Paste a valid token in the pane.",
      protectedSheet: "Nothing was written: a sheet okr-sync writes to is protected with a password. Unprotect it (Review › Unprotect Sheet), run again, then protect it again.",
      noKr: "No such key result in this workbook's OKRs sheet (or Settings has no Unit code):",
    },
    zh: {
      noOkrs: "此工作簿没有 OKRs 工作表。请按 OKR 工作簿标准添加后重试。",
      noToken: "请先在任务窗格中粘贴 okr-sync 管理员提供的访问令牌。",
      network: "无法连接 okr-sync 服务器：",
      unauthorized: "服务器拒绝了该令牌。请在任务窗格中粘贴有效的令牌。",
      protectedSheet: "未写入任何内容：okr-sync 要写入的工作表设有密码保护。请先撤销保护（审阅 › 撤销工作表保护），再运行，然后重新保护。",
      noKr: "此工作簿的 OKRs 表中没有该关键结果（或“设置”中缺少单元代码）：",
    },
  };

  function uiLanguage() {
    var office = global.Office;
    var lang = (office && office.context && office.context.displayLanguage) || global.navigator.language || "en";
    return String(lang).toLowerCase().indexOf("zh") === 0 ? "zh" : "en";
  }

  function t(key, lang) {
    return TEXT[lang || uiLanguage()][key];
  }

  /* Sheet and header names match case-, space- and punctuation-insensitively (the standard). */
  function norm(text) {
    return String(text).normalize("NFKC").toLowerCase().replace(/[^\p{L}\p{N}]+/gu, "");
  }

  /* Text Excel would read as a formula, number, date or boolean gets a leading apostrophe, which
   * Excel keeps as a text marker and does not show: a title "=SUM(...)" stays a string. */
  function protectText(value) {
    if (!value) return value;
    if ("=+-@".indexOf(value.charAt(0)) >= 0 || /^(true|false)$/i.test(value) || !/[A-Za-z\u00c0-\uffff]/.test(value)) {
      return "'" + value;
    }
    return value;
  }

  function cellValue(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "string") return protectText(value);
    return value;
  }

  function quoteSheet(name) {
    return /^[A-Za-z_][A-Za-z0-9_.]*$/.test(name) ? name : "'" + name.replace(/'/g, "''") + "'";
  }

  /* "'My sheet'!$B$3:$K$20" -> {sheet: "My sheet", cell: "B3"} */
  function splitAddress(address) {
    var bang = address.lastIndexOf("!");
    var sheet = bang >= 0 ? address.slice(0, bang) : "";
    if (sheet.charAt(0) === "'") sheet = sheet.slice(1, -1).replace(/''/g, "'");
    var cell = address.slice(bang + 1).split(":")[0].replace(/\$/g, "").toUpperCase();
    return { sheet: sheet, cell: cell };
  }

  function cellKey(sheet, cell) {
    return sheet + "!" + cell.replace(/\$/g, "").toUpperCase();
  }

  /* --- the token: pasted once, kept out of the workbook ----------------------------------- */

  function roaming() {
    var office = global.Office;
    return office && office.context && office.context.roamingSettings;
  }

  function getToken() {
    var rs = roaming();
    if (rs) return Promise.resolve(rs.get(TOKEN_KEY) || "");
    if (global.OfficeRuntime && global.OfficeRuntime.storage) {
      return global.OfficeRuntime.storage.getItem(TOKEN_KEY).then(function (v) { return v || ""; });
    }
    try {
      return Promise.resolve(global.localStorage.getItem(TOKEN_KEY) || "");
    } catch (e) {
      return Promise.resolve("");
    }
  }

  function setToken(token) {
    var rs = roaming();
    if (rs) {
      if (token) rs.set(TOKEN_KEY, token);
      else rs.remove(TOKEN_KEY);
      return new Promise(function (resolve) { rs.saveAsync(function () { resolve(); }); });
    }
    if (global.OfficeRuntime && global.OfficeRuntime.storage) {
      return token ? global.OfficeRuntime.storage.setItem(TOKEN_KEY, token) : global.OfficeRuntime.storage.removeItem(TOKEN_KEY);
    }
    if (token) global.localStorage.setItem(TOKEN_KEY, token);
    else global.localStorage.removeItem(TOKEN_KEY);
    return Promise.resolve();
  }

  /* --- the server -------------------------------------------------------------------------- */

  function api(method, path, body, lang) {
    return getToken().then(function (token) {
      if (!token) throw new OkrError(t("noToken", lang), 401);
      var init = {
        method: method,
        headers: { Authorization: "Bearer " + token, "Accept-Language": lang || uiLanguage() },
      };
      if (body) {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      var url = new URL(path, global.document.baseURI).toString();
      return global.fetch(url, init).then(
        function (res) {
          return res.json().catch(function () { return null; }).then(function (data) {
            if (res.ok && data) return data;
            if (res.status === 401) throw new OkrError(t("unauthorized", lang), 401);
            throw new OkrError((data && data.message) || "HTTP " + res.status, res.status);
          });
        },
        function (err) { throw new OkrError(t("network", lang) + err.message, 0); }
      );
    });
  }

  /* --- reading ----------------------------------------------------------------------------- */

  function noteApi(context) {
    var office = global.Office;
    var req = office && office.context && office.context.requirements;
    var notes = req && req.isSetSupported && req.isSetSupported("ExcelApi", "1.18");
    return notes ? context.workbook.notes : context.workbook.comments;
  }

  /* Read the OKRs and Settings sheets (values with their anchoring address) and the notes on
   * cells. Reads take up to three syncs; nothing is written here. */
  function readWorkbook(context, lang) {
    var wb = context.workbook;
    wb.load("name");
    var sheets = wb.worksheets;
    sheets.load("items/name");
    var notes = noteApi(context);
    notes.load("items/content");
    var read = { ranges: {}, names: [], notes: [], notesApi: notes, protection: {} };
    return context.sync().then(function () {
      read.source = wb.name;
      read.names = sheets.items.map(function (s) { return s.name; });
      var okrs = null;
      var settings = null;
      read.names.forEach(function (n) {
        var k = norm(n);
        if (k === "okrs" && okrs === null) okrs = n;
        if ((k === "settings" || k === "设置") && settings === null) settings = n;
      });
      if (okrs === null) throw new OkrError(t("noOkrs", lang));
      [okrs, settings].forEach(function (n) {
        if (n === null) return;
        var ws = sheets.getItem(n);
        var range = ws.getUsedRangeOrNullObject(true);
        range.load("address,values");
        read.ranges[n] = range;
        // Templates protect the sheets (no password) so people cannot type over computed cells.
        ws.protection.load("protected,options");
        read.protection[n] = ws.protection;
      });
      read.okrs = okrs;
      read.notes = notes.items.map(function (item) {
        var loc = item.getLocation();
        loc.load("address");
        return { item: item, content: item.content, location: loc };
      });
      return context.sync();
    }).then(function () {
      read.notes.forEach(function (n) {
        var a = splitAddress(n.location.address);
        n.key = cellKey(a.sheet, a.cell);
        n.sheet = a.sheet;
        n.ours = String(n.content || "").indexOf(NOTE_MARK) === 0;
      });
      return read;
    });
  }

  function payload(read, asOf) {
    var body = { source: read.source, sheets: {}, origins: {}, sheet_names: read.names };
    Object.keys(read.ranges).forEach(function (name) {
      var range = read.ranges[name];
      if (range.isNullObject) {
        body.sheets[name] = [];
        return;
      }
      body.sheets[name] = range.values;
      body.origins[name] = splitAddress(range.address).cell;
    });
    if (asOf) body.as_of = asOf;
    return body;
  }

  /* --- writing: everything queued, then one context.sync() -------------------------------- */

  function queueWrites(context, read, result) {
    var sheetCache = {};
    function sheet(name) {
      if (!sheetCache[name]) sheetCache[name] = context.workbook.worksheets.getItem(name);
      return sheetCache[name];
    }
    // Unprotect the sheets written to first and protect them again, same options, last.
    var touched = {};
    result.updates.forEach(function (u) { touched[u.sheet] = true; });
    (result.notes || []).forEach(function (n) { touched[n.sheet] = true; });
    read.notes.forEach(function (n) { if (n.ours) touched[n.sheet] = true; });
    var relock = Object.keys(touched).filter(function (name) {
      var p = read.protection[name];
      return p && p.protected;
    });
    relock.forEach(function (name) { sheet(name).protection.unprotect(); });
    var cells = 0;
    result.updates.forEach(function (u) {
      var range = sheet(u.sheet).getRange(u.a1);
      if (u.format) range.numberFormat = [[u.format]];
      if ("value" in u) {
        range.values = [[cellValue(u.value)]];
        cells += 1;
      }
      if ("fill" in u) {
        if (u.fill) range.format.fill.color = u.fill;
        else range.format.fill.clear();
      }
    });
    // Our notes from the last run go; people's own notes stay and keep their cell.
    var peoples = {};
    read.notes.forEach(function (n) {
      if (n.ours) n.item.delete();
      else peoples[n.key] = true;
    });
    var noted = 0;
    (result.notes || []).forEach(function (n) {
      if (peoples[cellKey(n.sheet, n.a1)]) return;
      read.notesApi.add(quoteSheet(n.sheet) + "!" + n.a1, n.text);
      noted += 1;
    });
    relock.forEach(function (name) { sheet(name).protection.protect(read.protection[name].options); });
    return { cells: cells, notes: noted, relocked: relock };
  }

  function scoreOrValidate(mode, options) {
    options = options || {};
    var lang = options.lang;
    return global.Excel.run(function (context) {
      var read;
      var result;
      return readWorkbook(context, lang)
        .then(function (r) {
          read = r;
          return api("POST", "api/" + mode, payload(read, options.asOf), lang);
        })
        .then(function (r) {
          result = r;
          result.written = queueWrites(context, read, result);
          return context.sync().catch(function (err) {
            // Unprotecting comes first in the batch: when a protected sheet refuses it (a
            // password), Excel stops there and nothing at all has been written.
            if (result.written.relocked.length && /password|protect|access/i.test(String(err.message) + " " + String(err.code))) {
              throw new OkrError(t("protectedSheet", lang) + " (" + result.written.relocked.join(", ") + ")");
            }
            throw err;
          });
        })
        .then(function () { return result; });
    });
  }

  function refreshRollup(options) {
    options = options || {};
    var lang = options.lang || uiLanguage();
    var query = "api/rollup?lang=" + encodeURIComponent(lang) + (options.asOf ? "&as_of=" + encodeURIComponent(options.asOf) : "");
    return api("GET", query, null, lang).then(function (data) {
      return global.Excel.run(function (context) {
        var sheets = context.workbook.worksheets;
        sheets.load("items/name");
        return context.sync().then(function () {
          var existing = {};
          sheets.items.forEach(function (s) { existing[s.name] = true; });
          data.sheets.forEach(function (s) { writeRollupSheet(sheets, existing[s.name], s); });
          return context.sync();
        }).then(function () { return data; });
      });
    });
  }

  /* One rollup sheet the add-in owns: cleared, then written as one block with formats. */
  function writeRollupSheet(sheets, exists, s) {
    var ws = exists ? sheets.getItem(s.name) : sheets.add(s.name);
    if (exists) ws.getRange().clear();
    var ncols = s.headers.length;
    var nrows = s.rows.length + 1;
    var all = ws.getRangeByIndexes(0, 0, nrows, ncols);
    var formats = [s.headers.map(function () { return "General"; })];
    var values = [s.headers.map(cellValue)];
    s.rows.forEach(function (row) {
      formats.push(s.formats.slice(0, ncols));
      var line = [];
      for (var c = 0; c < ncols; c++) line.push(cellValue(c < row.length ? row[c] : null));
      values.push(line);
    });
    all.numberFormat = formats;
    all.values = values;
    var head = ws.getRangeByIndexes(0, 0, 1, ncols);
    head.format.font.bold = true;
    head.format.font.color = s.header.font;  // colours come from the server (sheets_sync/core/bands.py)
    head.format.fill.color = s.header.fill;
    (s.strong || []).forEach(function (r) {
      var line = ws.getRangeByIndexes(r, 0, 1, ncols);
      line.format.font.bold = true;
      line.format.fill.color = s.strong_fill;
    });
    s.fills.forEach(function (f) { ws.getRangeByIndexes(f[0], f[1], 1, 1).format.fill.color = f[2]; });
    (s.depths || []).forEach(function (depth, r) {
      if (depth > 0) ws.getRangeByIndexes(r + 1, 0, 1, 2).format.indentLevel = Math.min(depth, 15);
    });
    ws.freezePanes.freezeRows(1);
    all.format.autofitColumns();
  }

  /* --- check-ins: the key results of the open workbook, and one person's update of one ------- */

  var HEADERS = {
    type: ["type", "类型"], id: ["id", "编号"], text: ["objectivekeyresult", "目标关键结果"], owner: ["owner", "负责人"],
    current: ["current", "当前值"], confidence: ["confidence", "信心指数"], notes: ["notes", "备注"],
  };
  var KR_TYPES = ["kr", "关键结果"];

  function colLetters(n) {
    var s = "";
    while (n > 0) { var m = (n - 1) % 26; s = String.fromCharCode(65 + m) + s; n = Math.floor((n - 1) / 26); }
    return s;
  }

  function originOf(range) {
    var cell = splitAddress(range.address).cell;
    var letters = cell.replace(/[0-9]/g, "");
    var col = 0;
    for (var i = 0; i < letters.length; i++) col = col * 26 + letters.charCodeAt(i) - 64;
    return { row: parseInt(cell.slice(letters.length), 10), col: col };
  }

  /* Key results of the OKRs sheet: id, text, owner, current, confidence, notes and the A1 of the three cells a
   * check-in writes. The unit code comes from Settings. */
  function keyResultsOf(read) {
    var range = read.ranges[read.okrs];
    if (!range || range.isNullObject) return { unit: null, krs: [] };
    var values = range.values;
    var origin = originOf(range);
    var header = -1;
    var cols = {};
    for (var r = 0; r < Math.min(values.length, 10) && header < 0; r++) {
      var found = {};
      values[r].forEach(function (v, c) {
        Object.keys(HEADERS).forEach(function (key) {
          if (HEADERS[key].indexOf(norm(v)) >= 0 && !(key in found)) found[key] = c;
        });
      });
      if ("id" in found && "current" in found) { header = r; cols = found; }
    }
    var unit = null;
    Object.keys(read.ranges).forEach(function (name) {
      if (name === read.okrs || read.ranges[name].isNullObject) return;
      read.ranges[name].values.forEach(function (line) {
        if (["unitcode", "单元代码"].indexOf(norm(line[0])) >= 0 && line[1] !== "" && unit === null) unit = String(line[1]).trim();
      });
    });
    var krs = [];
    if (header < 0) return { unit: unit, krs: krs };
    function at(line, key) { return key in cols && cols[key] < line.length ? line[cols[key]] : ""; }
    function a1(r, key) { return key in cols ? colLetters(origin.col + cols[key]) + (origin.row + r) : null; }
    for (var i = header + 1; i < values.length; i++) {
      var line = values[i];
      var id = String(at(line, "id")).trim();
      var isKr = "type" in cols ? KR_TYPES.indexOf(norm(at(line, "type"))) >= 0 : /^kr/i.test(id);
      if (!id || !isKr) continue;
      krs.push({
        id: id, text: String(at(line, "text")), owner: String(at(line, "owner")), current: at(line, "current"),
        confidence: at(line, "confidence"), notes: String(at(line, "notes")),
        cells: { current: a1(i, "current"), confidence: a1(i, "confidence"), notes: a1(i, "notes") },
      });
    }
    return { unit: unit, krs: krs };
  }

  function listKeyResults(options) {
    var lang = (options || {}).lang;
    return global.Excel.run(function (context) {
      return readWorkbook(context, lang).then(keyResultsOf);
    });
  }

  /* Write the new Current, Confidence and comment (Notes) into the key result's cells in one write, then record
   * the check-in on the server with the name the person gave. */
  function checkIn(entry, options) {
    options = options || {};
    var lang = options.lang;
    return global.Excel.run(function (context) {
      var read;
      var found;
      return readWorkbook(context, lang).then(function (r) {
        read = r;
        found = keyResultsOf(read);
        var kr = found.krs.filter(function (k) { return k.id === entry.id; })[0];
        if (!kr || !found.unit) throw new OkrError(t("noKr", lang) + " " + entry.id);
        var sheet = context.workbook.worksheets.getItem(read.okrs);
        var guard = read.protection[read.okrs];
        var relock = guard && guard.protected;
        if (relock) sheet.protection.unprotect();
        var wrote = {};
        [["current", entry.current], ["confidence", entry.confidence], ["notes", entry.comment]].forEach(function (p) {
          if (p[1] === null || p[1] === undefined || p[1] === "" || !kr.cells[p[0]]) return;
          sheet.getRange(kr.cells[p[0]]).values = [[cellValue(p[1])]];
          wrote[p[0]] = p[1];
        });
        if (relock) sheet.protection.protect(guard.options);
        return context.sync().then(function () {
          return api("POST", "api/checkin", {
            id: found.unit + "/" + kr.id, current: "current" in wrote ? wrote.current : null,
            confidence: "confidence" in wrote ? wrote.confidence : null, comment: wrote.notes || null,
            who: entry.who || null,
          }, lang);
        });
      });
    });
  }

  function selectCell(sheetName, a1) {
    return global.Excel.run(function (context) {
      var ws = context.workbook.worksheets.getItem(sheetName);
      ws.activate();
      ws.getRange(a1).select();
      return context.sync();
    });
  }

  global.OkrClient = {
    NOTE_MARK: NOTE_MARK,
    OkrError: OkrError,
    uiLanguage: uiLanguage,
    norm: norm,
    protectText: protectText,
    getToken: getToken,
    setToken: setToken,
    validate: function (options) { return scoreOrValidate("validate", options); },
    scoreCycle: function (options) { return scoreOrValidate("score", options); },
    refreshRollup: refreshRollup,
    selectCell: selectCell,
    listKeyResults: listKeyResults,
    checkIn: checkIn,
  };
})(typeof window !== "undefined" ? window : globalThis);
