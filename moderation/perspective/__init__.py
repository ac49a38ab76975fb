"""A drop-in for Google's Perspective API and Coral's external moderation phase.

Scoring clients (Coral, Commento++, anything written for Perspective) keep their code and
change one URL: `comments:analyze`, `comments:suggestscore` and the discovery document
answer as Perspective's do, with keys bound to one site. Coral's external moderation
phase gets this service's decision under the site's policy. Texts are scored by the
workers, never in the API process (`analyzer`).
"""
