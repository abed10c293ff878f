"""Home page of the metasuite app: what the suite is, its domains, and how to add one.

Run from the repository root with ``streamlit run apps/Home.py`` (or ``metasuite demo``).
Layout only; the domain list comes from :func:`metasuite.apps.logic.list_domains`.
"""

from __future__ import annotations

import streamlit as st

from metasuite.apps.logic import GENERIC_PAGE, list_domains
from metasuite.core.registry import ENTRY_POINT_GROUP

st.set_page_config(page_title="metasuite", page_icon=":material/psychology:", layout="wide")

st.title("metasuite")
st.markdown(
    "**One shared meta-learning core under several application domains.** The core (`core/`) holds the "
    "algorithms (MAML, first-order MAML, ANIL, Meta-SGD, Reptile, Prototypical Networks), the backbones, "
    "the trainer and the evaluator; it knows nothing about any domain. Each domain (`domains/`) only supplies "
    "a task sampler, a default backbone and its metrics, and gets meta-training, evaluation against "
    "baselines and checkpoints for free; a page in this app is optional."
)

st.header("Meta-learning in one paragraph")
st.markdown(
    "Ordinary training fits one model to one large dataset. **Meta-learning** trains on a whole "
    "*distribution of small tasks*, each with a tiny **support set** (say K = 5 labelled examples) to learn "
    "from and a **query set** to be judged on. The meta-learner is rewarded for how well it does on the "
    "query set *after* adapting to the support set, so what it learns is *how to learn quickly*: for "
    "example MAML learns an initialisation from which a few gradient steps on K examples already give a "
    "good model. At test time it meets tasks it has never seen (drawn from a split disjoint from the "
    "training tasks) and adapts from their support sets alone."
)

st.header("Domains")
domains = list_domains()
if not domains:
    st.info(f"No domain is installed. Register one under the entry-point group `{ENTRY_POINT_GROUP}`.")
for domain in domains:
    with st.container(border=True):
        st.subheader(domain["title"])
        st.caption(f"`{domain['name']}` · {domain['kind']}")
        if domain["error"]:
            st.error(f"{domain['description']}: {domain['error']}")
            continue
        st.markdown(domain["description"])
        if domain["has_page"]:
            st.page_link(  # a page may show several domains (Meta-RL): it opens on this one
                domain["page"],
                label=f"Open the {domain['title']} page",
                icon=":material/arrow_forward:",
                query_params={"domain": domain["name"]},
            )
        else:
            st.page_link(
                GENERIC_PAGE,
                label=f"Open {domain['title']} on the generic page",
                icon=":material/arrow_forward:",
                query_params={"domain": domain["name"]},
            )
            st.caption("No page of its own: the generic page shows its tasks, adaptation and baselines.")

st.header("Adding a domain")
st.markdown(
    "A domain is a subclass of `metasuite.core.domain.Domain` in any installed package, registered under the "
    f"entry-point group `{ENTRY_POINT_GROUP}`. The command line (`metasuite domains`, `train`, `eval`) and "
    "this page find it through that registry; nothing in metasuite has to be edited."
)
st.code(
    f'''# pyproject.toml of your package
[project.entry-points."{ENTRY_POINT_GROUP}"]
mydomain = "my_package.domain:MyDomain"''',
    language="toml",
)
st.code(
    """from metasuite.core.domain import Domain

class MyDomain(Domain):
    name = "mydomain"
    title = "My use case"
    description = "One line for the CLI and the Home page."
    kind = "classification"            # or "regression"
    page = "pages/5_MyDomain.py"       # optional: a Streamlit page under apps/

    def sampler(self, split, *, n_way, k_shot, n_query):
        # MySampler(...).sample(generator) returns a metasuite.core.tasks.Task
        return MySampler(split, n_way, k_shot, n_query)

    def backbone_spec(self, algorithm, n_way):
        return "conv4", {"in_channels": 3, "image_size": 84,
                         "out_features": None if algorithm == "protonet" else n_way}""",
    language="python",
)
st.markdown(
    "Then `pip install -e .` your package, and `metasuite train mydomain --algo maml --out runs/mine` meta-trains it."
)
