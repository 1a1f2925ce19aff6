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

    public static void History(IAnsiConsole console, IEnumerable<HistoryEntry> entries)
    {
        var table = new Table().AddColumns("seq", "stream", "version", "type", "at", "actor", "correlationId");
        foreach (var e in entries)
        {
            table.AddRow(Cells(Number(e.Seq), e.Stream, Number(e.Version), e.Type,
                e.At.ToString("yyyy-MM-ddTHH:mm:ss.fffzzz", CultureInfo.InvariantCulture), e.Actor ?? "-", e.CorrelationId ?? "-"));
        }
        console.Write(table);
    }

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
