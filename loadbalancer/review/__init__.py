"""``loadbalancer log``: reviewing the decision log (docs/ARCHITECTURE.md §The decision record).

Reading (:mod:`.read`, :mod:`.lines`, :mod:`.facts`, :mod:`.halves`), the timeline of
intervals and episodes (:mod:`.timeline`), the summary (:mod:`.summary`) and its text
(:mod:`.text`), explanations (:mod:`.explain`), the plot (:mod:`.plot`, :mod:`.draw`) and the
command (:mod:`.command`).
"""
