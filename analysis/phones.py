"""Phone labels as the paper prints them (``sh`` -> ``[ʃ]``): the project's one phone table,
:mod:`common.phones`, which also maps the phone sets of aligned corpora (ARPAbet, MFA's IPA,
SAMPA) to the TIMIT-style labels the data carries. Re-exported here for the analysis stage.

Extraction keeps the dataset's phone labels (TIMIT-style: TIMIT's own, the demo corpus's, or
those prepare.py mapped from TextGrids). A symbol outside the table (a pause, a label no phone
set knows) is shown as it is, still bracketed, so a figure never silently renames data.
"""

from common.phones import TIMIT_TO_IPA, ipa, phone_label  # noqa: F401  (re-exported)
