"""`birbctl report`: a capture as one self-contained HTML page of the session over time.

timeline.py turns a capture's records into a plain data model (no plotting library);
source.py reads a capture file into it; page.py draws the model with plotly, which is
imported only there, so the rest of birbctl starts without it.
"""
