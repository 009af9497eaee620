"""Generation backends behind one async interface (`base.Generator`): cohere, template, local."""
