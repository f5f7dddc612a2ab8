"""Reading an annotation file to choose a training recipe (`stgcn init-config`) and its layout."""
