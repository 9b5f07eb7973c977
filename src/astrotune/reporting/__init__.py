"""Reporting: collecting a study's metrics, the paper's Tables 2-5, other papers' study tables, figures."""
