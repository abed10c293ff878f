"""Patient-level ECG diagnosis: adapt a beat classifier to a new patient from a few labelled minutes."""
