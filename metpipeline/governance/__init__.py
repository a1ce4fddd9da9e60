"""The approval rules and their records, below every stage: the owner registry, the sealed ledger of
decisions, the decision rules (who may decide, what counts as approved) and volume acknowledgements.

The stages use them (quality reads acknowledgements, approval records decisions, publish re-verifies
them); they import no stage.
"""
