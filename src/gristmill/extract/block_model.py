"""The fitted block model used by the default extraction path (generated; do not edit).

Fitted on the 298 even-numbered wceb pages of ../shared/data/web/pages
(tiptopjaw/web-content-extraction-benchmark, Apache-2.0); the odd-numbered pages are held out.
Regenerate with ``python benchmarks/extraction.py --fit --write-model``; see
`gristmill.extract.fit` for the procedure and `gristmill.extract.cleanup` for its use.
"""

from gristmill.extract.cleanup import BlockModel

DEFAULT_MODEL = BlockModel(
    mean=(
        0.4455625527494644,  # is_p
        0.15854054404986043,  # is_h
        0.175290527819256,  # is_li
        0.004771797701746413,  # is_pre
        0.2158345776796728,  # is_div
        2.332347071270764,  # log_words
        0.09817938903407837,  # link_density
        0.4839317016165682,  # ends_sentence
        0.49516327988054276,  # position
        0.49245037817678844,  # words_before
        0.49787618158429703,  # words_after
        0.04099419595238422,  # digit_ratio
        0.08313778251474693,  # upper_ratio
        0.17139518275660587,  # repeated
        2.3310714553987797,  # ctx_log_words
        0.444695374741489,  # ctx_p
        0.0986645477496851,  # ctx_link_density
        0.4831201713951977,  # ctx_ends_sentence
        0.4634777769177183,  # long_before
        0.4443648511417544,  # long_after
        0.6986970034150273,  # log_short_run
        4.990005152798917,  # log_blocks
        6.710126949674318,  # log_words^2
        0.08497917874204389,  # link_density^2
        0.32852767974405755,  # position^2
        0.3371128890801908,  # words_before^2
        0.342538692487704,  # words_after^2
        0.020588428858433656,  # digit_ratio^2
        0.020542156331360677,  # upper_ratio^2
        5.923968216359072,  # ctx_log_words^2
        0.29922146096642815,  # ctx_p^2
        0.04546442526566951,  # ctx_link_density^2
        0.32801521569486314,  # ctx_ends_sentence^2
        0.34072363485797136,  # long_before^2
        0.3216107090820219,  # long_after^2
        1.5486505837356241,  # log_short_run^2
        25.58795237126935,  # log_blocks^2
        1.3192727511179259,  # is_p*log_words
        0.25609411552950806,  # is_h*log_words
        0.35489265212152526,  # is_li*log_words
        0.015566275174659467,  # is_pre*log_words
        0.3865212773274485,  # is_div*log_words
        0.024678835596305227,  # is_p*link_density
        0.014041812591840475,  # is_h*link_density
        0.027597988817353435,  # is_li*link_density
        4.2358272241660115e-06,  # is_pre*link_density
        0.03185651620135491,  # is_div*link_density
        0.21856950695800245,  # is_p*long_before
        0.07523394106626881,  # is_h*long_before
        0.07856607219515833,  # is_li*long_before
        0.0025298236120011378,  # is_pre*long_before
        0.08857843308627655,  # is_div*long_before
        0.20086177266284985,  # is_p*long_after
        0.07418500329521921,  # is_h*long_after
        0.07409899305187172,  # is_li*long_after
        0.0022419740897452753,  # is_pre*long_after
        0.09297710804207493,  # is_div*long_after
    ),
    scale=(
        0.49702772994744987,  # is_p
        0.3652470943651121,  # is_h
        0.38021541088725846,  # is_li
        0.06891318921977047,  # is_pre
        0.4114000641195613,  # is_div
        1.127068803937243,  # log_words
        0.2744813041190795,  # link_density
        0.49974174309029085,  # ends_sentence
        0.2886884237408905,  # position
        0.30758009381904566,  # words_before
        0.30766540315535157,  # words_after
        0.137506017165243,  # digit_ratio
        0.1167487278298648,  # upper_ratio
        0.37685391610594376,  # repeated
        0.7000529167027539,  # ctx_log_words
        0.3185396123717561,  # ctx_p
        0.18902309986617713,  # ctx_link_density
        0.30758757401079534,  # ctx_ends_sentence
        0.3548407884691049,  # long_before
        0.35235009316272453,  # long_after
        1.0297927369887616,  # log_short_run
        0.8293376551850815,  # log_blocks
        5.825988272890513,  # log_words^2
        0.26463631542752664,  # link_density^2
        0.29545719824727834,  # position^2
        0.3127809093945835,  # words_before^2
        0.3188972923850666,  # words_after^2
        0.11448485387932517,  # digit_ratio^2
        0.08945562022446743,  # upper_ratio^2
        3.321167246303659,  # ctx_log_words^2
        0.3057558485905186,  # ctx_p^2
        0.14618966580344844,  # ctx_link_density^2
        0.3077095078852715,  # ctx_ends_sentence^2
        0.3548507054140798,  # long_before^2
        0.3476387530551282,  # long_after^2
        3.266497793402685,  # log_short_run^2
        8.441592274431693,  # log_blocks^2
        1.642951098614796,  # is_p*log_words
        0.6272339141166942,  # is_h*log_words
        0.8652529360373976,  # is_li*log_words
        0.2389308409132415,  # is_pre*log_words
        0.854406855676178,  # is_div*log_words
        0.1279372181817076,  # is_p*link_density
        0.11312362247677925,  # is_h*link_density
        0.15827576409856986,  # is_li*link_density
        0.0005312935108517281,  # is_pre*link_density
        0.16786926208648406,  # is_div*link_density
        0.32621590946128437,  # is_p*long_before
        0.22172804628551385,  # is_h*long_before
        0.2287814235849176,  # is_li*long_before
        0.039936361496890616,  # is_pre*long_before
        0.2524870179625849,  # is_div*long_before
        0.31005848310451634,  # is_p*long_after
        0.21970689546071137,  # is_h*long_after
        0.22035386895438186,  # is_li*long_after
        0.03617232377167614,  # is_pre*long_after
        0.2595183334248993,  # is_div*long_after
    ),
    coef=(
        -0.2566072293721532,  # is_p
        0.40162917136806253,  # is_h
        0.3647493535365669,  # is_li
        0.07180498156783421,  # is_pre
        -0.3956844661941128,  # is_div
        0.005383134766011658,  # log_words
        -0.18388853756677284,  # link_density
        0.23146508526919268,  # ends_sentence
        -0.8819688919272087,  # position
        -1.2352352513364873,  # words_before
        -1.7421173167659485,  # words_after
        -0.24309679091558356,  # digit_ratio
        -0.06299414353180992,  # upper_ratio
        -0.2109663023733809,  # repeated
        2.9830974791608904,  # ctx_log_words
        0.36651840643319017,  # ctx_p
        -0.6948922314420847,  # ctx_link_density
        -0.9985541924064713,  # ctx_ends_sentence
        0.6539959111283391,  # long_before
        -0.4147460148141673,  # long_after
        0.06742906395034585,  # log_short_run
        0.15890165814683152,  # log_blocks
        0.09030270332311276,  # log_words^2
        0.09602515100853182,  # link_density^2
        0.35342652136989244,  # position^2
        -0.7730440216455938,  # words_before^2
        -0.4378685666344031,  # words_after^2
        0.037297531510085226,  # digit_ratio^2
        0.005693036719984073,  # upper_ratio^2
        -2.5527846316733176,  # ctx_log_words^2
        -0.3582273809034352,  # ctx_p^2
        0.5364877191616718,  # ctx_link_density^2
        0.9207033860045253,  # ctx_ends_sentence^2
        -1.33243187437947,  # long_before^2
        0.13059620589076715,  # long_after^2
        0.1678463281378064,  # log_short_run^2
        -0.21189390737094696,  # log_blocks^2
        0.25774007394220494,  # is_p*log_words
        -0.37078721494819766,  # is_h*log_words
        -0.26896132278965607,  # is_li*log_words
        -0.3152398263036944,  # is_pre*log_words
        0.1442207912507348,  # is_div*log_words
        -0.0024218689066447642,  # is_p*link_density
        0.01726637692836074,  # is_h*link_density
        -0.2755434707352308,  # is_li*link_density
        0.7739180975383164,  # is_pre*link_density
        -0.05311679885646816,  # is_div*link_density
        0.2746434758036565,  # is_p*long_before
        0.22852057407404278,  # is_h*long_before
        0.29366018824179846,  # is_li*long_before
        0.17003744104088805,  # is_pre*long_before
        0.07060664192241493,  # is_div*long_before
        -0.007902835683497374,  # is_p*long_after
        -0.027374498920399674,  # is_h*long_after
        -0.13049136892431198,  # is_li*long_after
        -0.05093304049724823,  # is_pre*long_after
        -0.41258913653250917,  # is_div*long_after
    ),
    intercept=0.9262470410092961,
    region_threshold=0.3,
    keep_threshold=0.4,
)
