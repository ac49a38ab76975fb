"""The schema's SQL migrations, applied in name order by `moderation migrate`.

A package only so that the files ship in the wheel beside `moderation`.
"""
