using System.Text.Json;
using System.Text.Json.Serialization;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.HostAgent.Hypervisor.Qemu;

/// <summary>A disk of a qemu domain: its root port, block node and device ids, image and mode.</summary>
public sealed record QemuDisk(Guid Id, int Position, string Device, int Devid, bool ReadOnly, bool Empty, string? Image, string Node, string QdevId);

/// <summary>A NIC of a qemu domain: its root port (by device number), MAC, netdev and device ids.</summary>
public sealed record QemuNic(Guid Id, int Device, string Mac, string NetdevId, string QdevId);

/// <summary>
/// What a qemu host records of a domain in its <c>domain.json</c>, rewritten after every change, so a restarted agent
/// finds the process (pid, QMP socket) and knows what it was: the domid, the build steps done, the marker, the devices.
/// </summary>
public sealed record QemuDomainRecord
{
    public required Guid VmId { get; init; }
    public required int Domid { get; init; }
    public required string Name { get; init; }
    public required DomainType DomainType { get; init; }
    public required int Vcpus { get; init; }
    public required int VcpusMax { get; init; }
    public required long MemoryTarget { get; init; }
    public required long MemoryReserved { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public required string QmpSocket { get; init; }
    public required string MonitorSocket { get; init; }
    public required string PidFile { get; init; }
    public required string ConsoleLog { get; init; }
    public int Pid { get; init; }

    /// <summary>The domain boots a kernel directly (<see cref="Qemu.DirectBoot"/>): once its console is written, it has booted an OS.</summary>
    public bool DirectBoot { get; init; }

    /// <summary><c>action-request=poweroff</c> until §6.3 step 8: a domain still carrying it is half-built.</summary>
    public bool ActionRequest { get; init; } = true;

    public BuildInfo? Build { get; init; }
    public DeviceModelInfo? DeviceModel { get; init; }
    public IReadOnlyList<QemuDisk> Disks { get; init; } = [];
    public IReadOnlyList<QemuNic> Nics { get; init; } = [];

    /// <summary>Block node names are unique per process: each plug takes the next generation.</summary>
    public int NextNode { get; init; }

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };

    public const string FileName = "domain.json";

    public void Save(string directory)
    {
        var path = Path.Combine(directory, FileName);
        var temp = path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(this, Json));
        File.Move(temp, path, overwrite: true);
    }

    public static QemuDomainRecord? Load(string directory)
    {
        var path = Path.Combine(directory, FileName);
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<QemuDomainRecord>(File.ReadAllText(path), Json) : null;
        }
        catch (JsonException)
        {
            return null; // torn or foreign: treated as no domain
        }
    }
}
