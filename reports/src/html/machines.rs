//! The machines section: each version's definition (the introspection data)
//! and the static checker's verdict for every ordered pair.

use super::code_list;
use crate::escape::{anchor, escape_html as esc};
use crate::results::{DeviceInfo, Results, StaticCheck, VersionInfo};
use crate::view::Layout;

/// The whole machines section.
pub(super) fn machines_section(results: &Results, layout: &Layout) -> String {
    let mut out =
        String::from("<section id=\"machines\" class=\"machines-section\">\n<h2>Machines</h2>\n");
    if results.versions.is_empty() {
        out.push_str("<p class=\"empty-note\">No version definitions in this results file.</p>\n");
    }
    out.push_str("<div class=\"versions\">\n");
    for (index, version) in results.versions.iter().enumerate() {
        out.push_str(&version_card(index, version));
    }
    out.push_str("</div>\n");
    out.push_str(&static_checks(results, layout));
    out.push_str("</section>\n");
    out
}

/// One version: machine type, compat properties, symbols and devices.
fn version_card(index: usize, version: &VersionInfo) -> String {
    let mut out = format!(
        "<article class=\"version\" id=\"{}\">\n<header><h3>{}</h3>\
         <span class=\"machine-type\" title=\"machine type\">{}</span></header>\n",
        anchor("version", index, std::slice::from_ref(&version.name)),
        esc(&version.name),
        esc(&version.machine_type),
    );
    if !version.description.is_empty() {
        out.push_str(&format!(
            "<p class=\"description\">{}</p>\n",
            esc(&version.description)
        ));
    }
    if let Some(reason) = &version.left_out {
        out.push_str(&format!(
            "<p class=\"left-out\"><strong>left out of this run:</strong> {}</p>\n",
            esc(reason)
        ));
    }
    let real = version
        .emulator
        .as_ref()
        .map(|e| format!("<dt>real emulator</dt><dd><code>{}</code></dd>", esc(e)))
        .unwrap_or_default();
    out.push_str(&format!(
        "<dl class=\"facts-grid\"><dt>board</dt><dd>{}</dd>{real}<dt>release</dt><dd>{}</dd><dt>file</dt><dd><code>{}</code></dd>\
         <dt>compat properties</dt><dd>{}</dd><dt>symbols</dt><dd>{}</dd></dl>\n",
        esc(&version.board),
        esc(&version.release),
        esc(&version.file),
        code_list(&version.compat_properties),
        code_list(&version.symbols),
    ));
    out.push_str(&format!(
        "<h4>Devices <span class=\"count\">{}</span></h4>\n<div class=\"devices\">\n",
        version.devices.len()
    ));
    for device in &version.devices {
        out.push_str(&device_block(device));
    }
    out.push_str("</div>\n</article>\n");
    out
}

/// One device: type, properties and features (effective ones, and declared
/// ones that their condition switched off).
fn device_block(device: &DeviceInfo) -> String {
    let properties: Vec<String> = device
        .properties
        .iter()
        .map(|(k, v)| {
            format!(
                "<li><span class=\"k\">{}</span>=<span class=\"v\">{}</span></li>",
                esc(k),
                esc(v)
            )
        })
        .collect();
    // Effective features first, a conditional one with its condition.
    let mut features: Vec<String> = device
        .features
        .iter()
        .map(|feature| {
            let declared = device.declared_features.iter().find(|d| {
                d.split_whitespace().next() == Some(feature.as_str()) && d.contains(" if ")
            });
            match declared {
                Some(d) => format!(
                    "<li class=\"feature on\">{} <span class=\"cond\">if {}</span></li>",
                    esc(feature),
                    esc(d.split_once(" if ").map_or("", |(_, c)| c.trim()))
                ),
                None => format!("<li class=\"feature on\">{}</li>", esc(feature)),
            }
        })
        .collect();
    // Declared features whose condition switched them off here, struck through.
    for declared in &device.declared_features {
        let name = declared.split_whitespace().next().unwrap_or("");
        if !device.features.iter().any(|f| f == name) {
            features.push(format!(
                "<li class=\"feature off\" title=\"declared, not in effect here\">{}</li>",
                esc(declared)
            ));
        }
    }
    format!(
        "<div class=\"device\"><div class=\"device-head\"><span class=\"device-id\">{}</span> \
         <code class=\"type\">{}</code></div>\n<ul class=\"props\">{}</ul>\n\
         <ul class=\"features\">{}</ul></div>\n",
        esc(&device.id),
        esc(&device.type_name),
        if properties.is_empty() {
            "<li class=\"none\">no properties</li>".to_string()
        } else {
            properties.join("")
        },
        if features.is_empty() {
            "<li class=\"none\">no features</li>".to_string()
        } else {
            features.join("")
        },
    )
}

/// The static checker's verdict for every ordered pair, as a small matrix,
/// then the findings of the pairs that have any.
fn static_checks(results: &Results, layout: &Layout) -> String {
    let mut out = String::from(
        "<div class=\"static\" id=\"static-checks\">\n<h3>Static checker</h3>\n\
         <p class=\"lead\">What <code>check-static</code> predicts from the state descriptions alone, \
         before any trial runs: ✓ loads, ⊘ refused (with its findings).</p>\n",
    );
    let find = |src: &str, dst: &str| {
        results
            .static_checks
            .iter()
            .position(|c| c.src == src && c.dst == dst)
    };
    out.push_str(
        "<table class=\"matrix static-matrix\"><thead><tr><th class=\"corner\" scope=\"col\">\
         <span class=\"to\">to →</span><span class=\"from\">from ↓</span></th>",
    );
    for dst in &layout.axis {
        out.push_str(&format!(
            "<th scope=\"col\" class=\"dst\">{}</th>",
            esc(dst)
        ));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for src in &layout.axis {
        out.push_str(&format!(
            "<tr><th scope=\"row\" class=\"src\">{}</th>",
            esc(src)
        ));
        for dst in &layout.axis {
            let attrs = format!("data-src=\"{}\" data-dst=\"{}\"", esc(src), esc(dst));
            match find(src, dst) {
                None => out.push_str(&format!("<td class=\"verdict-cell unknown\" {attrs}><span class=\"na\">not checked</span></td>")),
                Some(i) if results.static_checks[i].findings.is_empty() => out.push_str(&format!(
                    "<td class=\"verdict-cell loads\" {attrs}><span class=\"n o-identical\">✓ loads</span></td>"
                )),
                Some(i) => {
                    let check = &results.static_checks[i];
                    out.push_str(&format!(
                        "<td class=\"verdict-cell refuses\" {attrs}><a href=\"#{}\"><span class=\"n o-refused\">⊘ {}</span></a></td>",
                        static_anchor(i, check),
                        findings_label(check.findings.len())
                    ));
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");

    let with_findings: Vec<(usize, &StaticCheck)> = results
        .static_checks
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.findings.is_empty())
        .collect();
    if !with_findings.is_empty() {
        out.push_str("<dl class=\"findings\">\n");
        for (i, check) in with_findings {
            out.push_str(&format!(
                "<dt id=\"{}\">{} <span class=\"arrow\">→</span> {}</dt><dd>{}</dd>\n",
                static_anchor(i, check),
                esc(&check.src),
                esc(&check.dst),
                code_list(&check.findings)
            ));
        }
        out.push_str("</dl>\n");
    }
    out.push_str("</div>\n");
    out
}

/// `1 finding`, `2 findings`.
fn findings_label(n: usize) -> String {
    if n == 1 {
        "1 finding".to_string()
    } else {
        format!("{n} findings")
    }
}

/// Id of the findings of static check `index`.
fn static_anchor(index: usize, check: &StaticCheck) -> String {
    anchor("static", index, &[check.src.clone(), check.dst.clone()])
}
