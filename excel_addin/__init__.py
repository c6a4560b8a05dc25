"""The Office.js add-in's files (manifest, task pane, icons), shipped so an installed server can serve them."""
