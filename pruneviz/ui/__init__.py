"""Dashboard helpers: shared state and widgets (Streamlit) and Plotly charts (no Streamlit needed).

The only part of ``pruneviz`` allowed to import Streamlit; the engine never does.
"""
