using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Xapi.Cqrs.Cli;

/// <summary>Tables for people. Every value from the server goes in as <see cref="Text"/>, never as markup.</summary>
internal static class Rendering
{
    public static void Hosts(IAnsiConsole console, IEnumerable<Host> hosts)
    {
        var table = new Table().AddColumns("name", "id", "enabled", "live", "memory total", "memory free", "cpus", "resident VMs");
        foreach (var h in hosts.OrderBy(h => h.NameLabel, StringComparer.Ordinal))
        {
            table.AddRow(Cells(h.NameLabel, h.Id, YesNo(h.Enabled), YesNo(h.Live), Bytes(h.MemoryTotal), Bytes(h.MemoryFree),
                Number(h.CpuCount), Number(h.ResidentVms?.Count ?? 0)));
        }
        console.Write(table);
    }

    public static void Vms(IAnsiConsole console, IEnumerable<Vm> vms, IReadOnlyDictionary<string, string> hostNames)
    {
        var table = new Table().AddColumns("name", "id", "power state", "resident on", "vCPUs", "memory (dynamic min/max)", "domid");
        foreach (var vm in vms.OrderBy(v => v.NameLabel, StringComparer.Ordinal))
        {
            table.AddRow(Cells(vm.NameLabel, vm.Id, vm.PowerState, HostName(vm.ResidentOn, hostNames),
                $"{vm.VcpusAtStartup}/{vm.VcpusMax}", $"{Bytes(vm.MemoryDynamicMin)} / {Bytes(vm.MemoryDynamicMax)}",
                vm.Domid is { } d ? Number(d) : "-"));
        }
        console.Write(table);
    }

    /// <summary>Every field of a JSON object, one row each: lists joined, maps as key=value, memory in MiB/GiB and bytes.</summary>
    public static void Record(IAnsiConsole console, JsonElement record)
    {
        var table = new Table().AddColumns("field", "value");
        foreach (var field in record.EnumerateObject())
        {
            table.AddRow(Cells(field.Name, Value(field.Name, field.Value)));
        }
        console.Write(table);
    }

    /// <summary>The timeline: one row per event, in commit order, each stream by its label (the VM's own is "VM").</summary>
    public static void History(IAnsiConsole console, IReadOnlyCollection<HistoryEntry> entries, IReadOnlyDictionary<string, string> streamLabels)
    {
        var table = new Table().AddColumns("seq", "stream", "version", "type", "at", "actor", "correlationId");
        foreach (var e in entries)
        {
            table.AddRow(Cells(Number(e.Seq), streamLabels.GetValueOrDefault(e.Stream, e.Stream), Number(e.Version), e.Type,
                Time(e.At), e.Actor ?? "-", e.CorrelationId ?? "-"));
        }
        console.Write(table);
        Line(console, entries.Count == 1 ? "1 event" : $"{Number(entries.Count)} events");
    }

    /// <summary>A dry run: where the start would go and why, and every candidate with its value or the check it failed.</summary>
    public static void Preview(IAnsiConsole console, string vm, Preview p)
    {
        var chosen = p.Candidates.FirstOrDefault(c => c.Host == p.Host)?.NameLabel;
        Line(console, $"VM {vm} would start on {Named(chosen, p.Host)}: category {p.Category ?? "-"}, needs {Bytes(p.MemoryRequired)} ({Number(p.MemoryRequired)}), draw seed {Number(p.Seed)}");
        Candidates(console, p.Candidates, p.Host);
        Line(console, "(a dry run: nothing was started or written)");
    }

    /// <summary>Each start as a story (GET /api/vms/{id}/history/explain).</summary>
    public static void Explain(IAnsiConsole console, string vm, Explanation e, IReadOnlyDictionary<string, string> hostNames)
    {
        Line(console, e.Starts.Count switch
        {
            0 => $"VM {vm} was never asked to start",
            1 => $"VM {vm}: 1 start",
            var n => $"VM {vm}: {Number(n)} starts",
        });
        var i = 0;
        foreach (var start in e.Starts)
        {
            i++;
            string Host(string? id) =>
                id is null ? "-" : Named(start.Candidates?.FirstOrDefault(c => c.Host == id)?.NameLabel ?? hostNames.GetValueOrDefault(id), id);
            console.WriteLine();
            var who = start.Actor is { Subject: { } subject } actor ? $"{subject}{(actor.Role is { } role ? $" ({role})" : "")}" : "unknown";
            Line(console, $"{Number(i)}. {start.Operation ?? "start"} asked at {Time(start.RequestedAt)} by {who}, correlation id {start.CorrelationId ?? "-"}, task {start.TaskId}");
            Line(console, $"   asked for: {(start.RequestedHost is { } h ? $"host {Host(h)} only" : "any host")}, {(start.Paused ? "paused" : "running")}");
            if (start.MemoryRequired is { } memory || start.Category is not null || start.Seed is not null)
            {
                Line(console, $"   placement: needs {(start.MemoryRequired is { } m ? $"{Bytes(m)} ({Number(m)})" : "-")}, category {start.Category ?? "-"}, draw seed {(start.Seed is { } seed ? Number(seed) : "-")}");
            }
            if (start.Candidates is { Count: > 0 } candidates)
            {
                Line(console, "   hosts considered:");
                Candidates(console, candidates, start.ChosenHost);
            }
            Line(console, $"   chosen: {(start.ChosenHost is null ? "no host" : Host(start.ChosenHost))}");
            if (start.Steps is { Count: > 0 } steps)
            {
                Line(console, "   host-side steps:");
                var table = new Table().AddColumns("step", "at", "duration");
                foreach (var step in steps)
                {
                    table.AddRow(Cells(step.Type, Time(step.At), step.DurationMs is { } ms ? Duration(ms) : "-"));
                }
                console.Write(table);
            }
            if (start.Outcome is { } outcome)
            {
                var failure = outcome.Code is { } code ? $": {code} [{string.Join(", ", outcome.Params ?? [])}]" : "";
                Line(console, $"   outcome: {outcome.Status}{failure}{(outcome.At is { } at ? $" at {Time(at)}" : "")}");
            }
            if (start.Replay is { } replay)
            {
                Line(console, replay.Reproduced
                    ? replay.Note is { Length: > 0 } same
                        ? $"   replay: reproduced: {same}" // the server's note names the host, the category and the draws
                        : $"   replay: today's placement makes the same choice ({Host(replay.Host ?? start.ChosenHost)})"
                    : $"   replay: NOT REPRODUCED: today's placement would choose {(replay.Host is null ? "no host" : Host(replay.Host))}{(replay.Note is { Length: > 0 } note ? $": {note}" : " (the policy changed since)")}");
            }
        }
    }

    private static void Candidates(IAnsiConsole console, IEnumerable<Candidate> candidates, string? chosen)
    {
        var table = new Table().AddColumns("", "host", "id", "category", "value", "refused");
        foreach (var c in candidates)
        {
            table.AddRow(Cells(c.Host == chosen ? "*" : "", c.NameLabel ?? "-", c.Host, c.Category ?? "-",
                c.Value is { } v ? Number(v) : "-",
                c.Refused is { } r ? $"{r.Code} [{string.Join(", ", r.Params ?? [])}]" : "-"));
        }
        console.Write(table);
    }

    public static void Projections(IAnsiConsole console, IEnumerable<Projection> projections)
    {
        var table = new Table().AddColumns("name", "kind", "version", "status", "position", "high-water mark", "lag", "documents");
        foreach (var p in projections)
        {
            table.AddRow(Cells(p.Name, p.Kind ?? "-", p.Version is { } v ? Number(v) : "-", p.Status ?? "-", Number(p.Position), Number(p.HighWaterMark), Number(p.Lag),
                p.Documents is { } d ? Number(d) : "-"));
        }
        console.Write(table);
    }

    /// <summary>"vms: rebuilt 1200 documents from 35000 events in 2.5 s (14000 events/s)".</summary>
    public static string Rebuilt(string name, RebuildResult? r) =>
        r is null
            ? $"{name}: rebuilt"
            : $"{name}: rebuilt {Number(r.Documents)} documents from {Number(r.Events)} events in " +
              string.Format(CultureInfo.InvariantCulture, "{0:0.##} s", r.Seconds) +
              ((r.EventsPerSecond ?? (r.Seconds > 0 ? r.Events / r.Seconds : null)) is { } rate
                  ? string.Format(CultureInfo.InvariantCulture, " ({0:0} events/s)", rate)
                  : "");

    public static void Messages(IAnsiConsole console, IEnumerable<Message> messages)
    {
        var table = new Table().AddColumns("timestamp", "name", "priority", "class", "object", "body");
        foreach (var m in messages.OrderBy(m => m.Timestamp))
        {
            table.AddRow(Cells(Time(m.Timestamp), m.Name, Number(m.Priority), m.Class ?? "-", m.ObjUuid ?? "-", m.Body ?? ""));
        }
        console.Write(table);
    }

    public static void Operations(IAnsiConsole console, IEnumerable<OpenOperation> operations)
    {
        var table = new Table().AddColumns("class", "id", "operation", "task", "since", "age");
        foreach (var o in operations)
        {
            table.AddRow(Cells(o.Class, o.Id, o.Op, o.TaskId ?? "-", Time(o.Since), Duration(o.AgeSeconds * 1000)));
        }
        console.Write(table);
    }

    /// <summary>One event of the log on one line: "  1234  2025-01-31T12:00:00.000Z  VmStarted  stream uuid v5  by alice  corr abc".</summary>
    public static string EventLine(LogEvent e) =>
        $"{Number(e.Seq),8}  {Time(e.At)}  {e.Type}  stream {e.Stream} v{Number(e.Version)}  by {e.Actor ?? "-"}  correlation {e.CorrelationId ?? "-"}";

    /// <summary>Times in UTC to the millisecond, as the server records them.</summary>
    public static string Time(DateTimeOffset t) => t.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);

    /// <summary>"850 ms", "2.5 s", "3 min 20 s".</summary>
    public static string Duration(double ms) =>
        ms < 1000 ? string.Format(CultureInfo.InvariantCulture, "{0:0.#} ms", ms)
        : ms < 60_000 ? string.Format(CultureInfo.InvariantCulture, "{0:0.##} s", ms / 1000)
        : string.Format(CultureInfo.InvariantCulture, "{0} min {1:0} s", (long)(ms / 60_000), ms % 60_000 / 1000);

    /// <summary>A VM after a lifecycle call: "web01 (uuid) is Running on host-a (uuid)".</summary>
    public static void PowerState(IAnsiConsole console, Vm vm, string? hostName)
    {
        var where = vm.ResidentOn is null ? "" : $" on {hostName ?? vm.ResidentOn} ({vm.ResidentOn})";
        Line(console, $"{vm.NameLabel} ({vm.Id}) is {vm.PowerState}{where}");
    }

    /// <summary>A new disk: "VBD uuid connects VDI disk1 (uuid) to VM web01 (uuid) as userdevice 1 (xvdb), RW, plugged".</summary>
    public static void DiskAdded(IAnsiConsole console, string vbdId, string vdi, string vm, VbdBody asked, Vbd? vbd)
    {
        var how = vbd is null
            ? $"userdevice {asked.Userdevice}, {asked.Mode}"
            : $"userdevice {DeviceOf(vbd)}, {vbd.Mode}, {Attached(vbd.CurrentlyAttached)}";
        Line(console, $"VBD {vbdId} connects VDI {vdi} to VM {vm} as {how}");
    }

    /// <summary>A VBD after plug or unplug: "VBD uuid (userdevice 1 (xvdb), RW Disk) of VM db01 (uuid) is plugged".</summary>
    public static void DeviceState(IAnsiConsole console, Vbd vbd, string? vmName) =>
        Line(console, $"VBD {vbd.Id} (userdevice {DeviceOf(vbd)}, {vbd.Mode} {vbd.Type}) of VM {Named(vmName, vbd.Vm)} is {Attached(vbd.CurrentlyAttached)}");

    /// <summary>A VIF after plug or unplug: "VIF uuid (device 0, MAC 00:16:3e:…) of VM db01 (uuid) is unplugged".</summary>
    public static void DeviceState(IAnsiConsole console, Vif vif, string? vmName)
    {
        var mac = vif.Mac is { Length: > 0 } m ? $", MAC {m}" : "";
        Line(console, $"VIF {vif.Id} (device {vif.Device}{mac}) of VM {Named(vmName, vif.Vm)} is {Attached(vif.CurrentlyAttached)}");
    }

    /// <summary>One line of plain text (never markup).</summary>
    public static void Line(IAnsiConsole console, string text)
    {
        console.Write(new Text(text));
        console.WriteLine();
    }

    /// <summary>How the user named an object, with its uuid: "web01 (uuid)", or the uuid alone when that is what they gave.</summary>
    public static string Named(string? given, string id) =>
        given is null || given == id ? id : $"{given} ({id})";

    /// <summary>Human memory size: GiB from 1 GiB up, MiB below, at most two decimals ("4 GiB", "1.5 GiB", "512 MiB").</summary>
    public static string Bytes(long bytes)
    {
        const long MiB = 1L << 20, GiB = 1L << 30;
        return Math.Abs(bytes) >= GiB
            ? string.Format(CultureInfo.InvariantCulture, "{0:0.##} GiB", bytes / (double)GiB)
            : string.Format(CultureInfo.InvariantCulture, "{0:0.##} MiB", bytes / (double)MiB);
    }

    private static string Value(string name, JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => "-",
        JsonValueKind.String => v.GetString()!,
        JsonValueKind.Array => string.Join(", ", v.EnumerateArray().Select(e => Value("", e))),
        JsonValueKind.Object => string.Join(", ", v.EnumerateObject().Select(p => $"{p.Name}={Value(p.Name, p.Value)}")),
        JsonValueKind.Number when name.StartsWith("memory", StringComparison.Ordinal) && v.TryGetInt64(out var bytes) =>
            $"{Bytes(bytes)} ({Number(bytes)})",
        _ => v.GetRawText(),
    };

    private static string DeviceOf(Vbd vbd) => vbd.Device is { Length: > 0 } d ? $"{vbd.Userdevice} ({d})" : vbd.Userdevice;

    private static string Attached(bool currentlyAttached) => currentlyAttached ? "plugged" : "unplugged";

    private static string HostName(string? id, IReadOnlyDictionary<string, string> names) =>
        id is null ? "-" : names.GetValueOrDefault(id, id);

    private static string YesNo(bool b) => b ? "yes" : "no";

    private static string Number(long n) => n.ToString(CultureInfo.InvariantCulture);

    private static IRenderable[] Cells(params string[] values) => [.. values.Select(v => new Text(v))];
}
