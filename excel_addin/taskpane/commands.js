/* Ribbon buttons Validate, Score cycle and Refresh rollup (ExecuteFunction commands). Results go
 * into the sheet; when something fails (no token, server down) the pane opens to say why. */
(function (global) {
  "use strict";

  function finish(event, job) {
    return job.then(
      function (result) {
        global.okrLastResult = result;
        return result;
      },
      function (err) {
        global.okrLastError = err.message || String(err);
        // Shared-runtime hosts can bring up the pane, which shows the token box and the reason.
        if (global.Office && global.Office.addin && global.Office.addin.showAsTaskpane) {
          global.Office.addin.showAsTaskpane();
        }
      }
    ).then(function () {
      if (event && event.completed) event.completed();
    });
  }

  global.okrValidate = function (event) { return finish(event, global.OkrClient.validate()); };
  global.okrScoreCycle = function (event) { return finish(event, global.OkrClient.scoreCycle()); };
  global.okrRefreshRollup = function (event) { return finish(event, global.OkrClient.refreshRollup()); };

  if (global.Office && global.Office.onReady) {
    global.Office.onReady(function () {
      if (global.Office.actions && global.Office.actions.associate) {
        global.Office.actions.associate("okrValidate", global.okrValidate);
        global.Office.actions.associate("okrScoreCycle", global.okrScoreCycle);
        global.Office.actions.associate("okrRefreshRollup", global.okrRefreshRollup);
      }
    });
  }
})(window);
