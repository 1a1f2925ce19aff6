using System.CommandLine;
using System.Globalization;
using System.Text.Json;

namespace Xapi.Cqrs.Cli;

/// <summary>Audit replay (API.md "Audit replay and projections"): a VM's timeline, its record as it was, and the story of its starts.</summary>
internal static class HistoryVerbs
{
    /// <summary>What each stream of a VM's history is: "VM" for its own, "host host2", "VBD uuid", "VIF uuid" (others keep the uuid).</summary>
    private static async Task<Dictionary<string, string>> StreamLabelsAsync(Session s, string vmId, CancellationToken ct)
    {
        var labels = (await s.HostNamesAsync(ct)).ToDictionary(h => h.Key, h => $"host {h.Value}");
        if (await s.TryGetAsync<VmDevices>($"api/vms/{vmId}", ct) is { } vm)
        {
            foreach (var vbd in vm.Vbds ?? [])
            {
                labels[vbd] = $"VBD {vbd}";
            }
            foreach (var vif in vm.Vifs ?? [])
            {
                labels[vif] = $"VIF {vif}";
            }
        }
        labels[vmId] = "VM";
        return labels;
    }

    private sealed record VmDevices(IReadOnlyList<string>? Vbds, IReadOnlyList<string>? Vifs);

    public static void Add(CommandTree t)
    {
        var vmArg = t.Named("vm", "VM uuid or name label", "api/vms");
        var at = CommandTree.Time("--at", "Show the VM record as it was at this ISO-8601 time (UTC unless an offset is given)");
        var version = new Option<long?>("--version")
        {
            HelpName = "N",
            Description = "Show the VM record as it was at version N of its stream",
            Validators = { r => { if (r.GetValueOrDefault<long?>() is < 1) { r.AddError("--version must be 1 or more"); } } },
        };
        var explain = new Option<bool>("--explain") { Description = "Tell each start of the VM as a story: who asked, the hosts weighed and refused, the choice, the steps, the outcome, and whether today's placement makes the same choice" };
        var type = new Option<string?>("--type") { HelpName = "event type", Description = "Only events of this type (e.g. vm_created, task_succeeded)" };
        var from = CommandTree.Time("--from", "Only events at or after this time");
        var to = CommandTree.Time("--to", "Only events before this time");
        var pageSize = new Option<int?>("--page-size")
        {
            HelpName = "N",
            Description = "Events per request (the server's default is 500); every page is read either way",
            Validators = { r => { if (r.GetValueOrDefault<int?>() is < 1) { r.AddError("--page-size must be 1 or more"); } } },
        };
        var command = t.Define("vm-history", "A VM's events in commit order (every page), its record at a past time or version, or the story of its starts",
            [vmArg, at, version, explain, type, from, to, pageSize], async (r, s, ct) =>
        {
            var id = await s.ResolveVmAsync(r.GetValue(vmArg)!, ct);
            if (r.GetValue(at) is { } when)
            {
                var path = $"api/vms/{id}/history?at={Uri.EscapeDataString(when.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture))}";
                s.Print(await s.Client.GetAsync<JsonElement>(path, ct), vm => Rendering.Record(s.Console, Program.AsObject(vm)));
            }
            else if (r.GetValue(version) is { } n)
            {
                var path = $"api/vms/{id}/history?version={n.ToString(CultureInfo.InvariantCulture)}";
                s.Print(await s.Client.GetAsync<JsonElement>(path, ct), vm => Rendering.Record(s.Console, Program.AsObject(vm)));
            }
            else if (r.GetValue(explain))
            {
                var story = await s.Client.GetAsync<Explanation>($"api/vms/{id}/history/explain", ct);
                var names = s.Json ? new Dictionary<string, string>() : await s.HostNamesAsync(ct);
                var vmName = s.Json ? null : await s.TryVmNameAsync(id, ct);
                s.Print(story, e => Rendering.Explain(s.Console, Rendering.Named(vmName ?? r.GetValue(vmArg), id), e, names));
            }
            else
            {
                var query = new List<string>();
                if (r.GetValue(type) is { } eventType)
                {
                    query.Add($"type={Uri.EscapeDataString(eventType)}");
                }
                if (r.GetValue(from) is { } fromTime)
                {
                    query.Add($"from={Uri.EscapeDataString(fromTime.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture))}");
                }
                if (r.GetValue(to) is { } toTime)
                {
                    query.Add($"to={Uri.EscapeDataString(toTime.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture))}");
                }
                if (r.GetValue(pageSize) is { } limit)
                {
                    query.Add($"limit={limit.ToString(CultureInfo.InvariantCulture)}");
                }
                var path = query.Count == 0 ? $"api/vms/{id}/history" : $"api/vms/{id}/history?{string.Join('&', query)}";
                var history = await s.Client.GetAllPagesAsync<HistoryEntry>(path, ct);
                var labels = s.Json ? new Dictionary<string, string>() : await StreamLabelsAsync(s, id, ct);
                s.Print(history, h => Rendering.History(s.Console, h, labels));
            }
        });
        command.Validators.Add(r =>
        {
            var modes = new[] { r.GetResult(at) is { Implicit: false }, r.GetResult(version) is { Implicit: false }, r.GetValue(explain) }.Count(x => x);
            if (modes > 1)
            {
                r.AddError("--at, --version and --explain each answer a different question: give at most one");
            }
            if (modes > 0 && (r.GetResult(type) is { Implicit: false } || r.GetResult(from) is { Implicit: false } || r.GetResult(to) is { Implicit: false } || r.GetResult(pageSize) is { Implicit: false }))
            {
                r.AddError("--type, --from, --to and --page-size filter the timeline; they do not go with --at, --version or --explain");
            }
        });

        var hostArg = t.Named("host", "Host uuid or name label", "api/hosts");
        var hostAt = CommandTree.Time("--at", "The host as it was at this ISO-8601 time (UTC unless an offset is given)");
        var hostVersion = new Option<long?>("--version")
        {
            HelpName = "N",
            Description = "The host as it was at version N of its stream",
            Validators = { r => { if (r.GetValueOrDefault<long?>() is < 1) { r.AddError("--version must be 1 or more"); } } },
        };
        var hostCommand = t.Define("host-history", "A host's events in commit order (every page), or its record as it was at a past time or version: free memory, resident and scheduled VMs",
            [hostArg, hostAt, hostVersion], async (r, s, ct) =>
        {
            var id = await s.ResolveHostAsync(r.GetValue(hostArg)!, ct);
            if (r.GetValue(hostAt) is { } when)
            {
                var path = $"api/hosts/{id}/history?at={Uri.EscapeDataString(when.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture))}";
                s.Print(await s.Client.GetAsync<JsonElement>(path, ct), h => Rendering.Record(s.Console, Program.AsObject(h)));
            }
            else if (r.GetValue(hostVersion) is { } n)
            {
                var path = $"api/hosts/{id}/history?version={n.ToString(CultureInfo.InvariantCulture)}";
                s.Print(await s.Client.GetAsync<JsonElement>(path, ct), h => Rendering.Record(s.Console, Program.AsObject(h)));
            }
            else
            {
                var history = await s.Client.GetAllPagesAsync<HistoryEntry>($"api/hosts/{id}/history", ct);
                var labels = s.Json ? new Dictionary<string, string>() : new Dictionary<string, string> { [id] = "host" };
                s.Print(history, h => Rendering.History(s.Console, h, labels));
            }
        });
        hostCommand.Validators.Add(r =>
        {
            if (r.GetResult(hostAt) is { Implicit: false } && r.GetResult(hostVersion) is { Implicit: false })
            {
                r.AddError("--at and --version each name a moment: give one");
            }
        });
    }
}
