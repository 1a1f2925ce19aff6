using Xapi.Cqrs.Domain.Memory;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.HostAgent.Hypervisor.Simulated;

/// <summary>
/// The xenstore keys a domain's life writes (XAPI.md §6.6): <c>Domain.make</c> at create, <c>build_post</c> and the
/// console keys at build, the device model's, and what <c>Domain.destroy</c> removes. Memory keys are KiB.
/// Simplified model choices: PV store/console ports are 1/2 and HVM ones follow one event channel per vCPU
/// (CA-140252); HVM ring-refs are the usual special pages 0xFEFFC/0xFEFFF; vCPU parameters are recorded under
/// <c>/local/domain/&lt;domid&gt;/vcpu-params/{affinity,weight,cap}</c>.
/// </summary>
public sealed partial class SimulatedXenHost
{
    private const string Dom0Backend = "/local/domain/0/backend";
    private const string Dom0XenserverBackend = "/local/domain/0/xenserver/backend";
    private const string Dom0DeviceModel = "/local/domain/0/device-model";
    private const string HvmStoreRingRef = "1044476";
    private const string HvmConsoleRingRef = "1044479";
    private const int ConsoleLimit = 65536;

    private static readonly string[] GuestWritableDirs =
    [
        "device", "device/vbd", "device/9pfs", "device/vif", "feature", "error", "drivers", "control", "attr",
        "xenserver/attr", "data", "messages", "vm-data", "hvmloader", "rrd",
    ];

    private static readonly string[] XenopsDeviceDirs = ["device", "device/vbd", "device/9pfs", "device/vif"];

    private void WriteDom0Tree() => Xenstore.Transaction(() =>
    {
        Xenstore.Write("/local/domain/0/name", "Domain-0");
        Xenstore.Write("/local/domain/0/domid", "0");
        Xenstore.Write("/local/domain/0/memory/target", Str(HostOverhead / MemoryModel.BytesPerKib));
        Xenstore.Mkdir(Dom0Backend);
        Xenstore.Mkdir(Dom0DeviceModel);
        Xenstore.Mkdir("/vm");
        Xenstore.Mkdir("/libxl");
        Xenstore.Mkdir("/xenops/domain");
        Xenstore.Mkdir("/xapi");
    });

    /// <summary>Domain.make and VM.create_exn's memory keys.</summary>
    private void WriteDomainTreeLocked(SimDomain d)
    {
        var spec = d.Spec;
        var dom = d.DomPath;
        var vm = d.VmPath;
        var xenops = $"/xenops/domain/{d.Domid}";
        var libxl = $"/libxl/{d.Domid}";
        var createTime = _time.GetElapsedTime(0, _time.GetTimestamp()).Ticks * 100; // monotonic ns, as Mtime
        Xenstore.Transaction(() =>
        {
            // Domain.make: clear rubbish, then the three trees
            Xenstore.Remove(dom);
            Xenstore.Remove(xenops);
            Xenstore.Remove(libxl);
            Xenstore.Mkdir(dom);
            Xenstore.Mkdir(xenops);
            Xenstore.Mkdir(libxl);
            if (!Xenstore.Exists(vm))
            {
                Xenstore.Write($"{vm}/uuid", spec.VmId.ToString());
                Xenstore.Write($"{vm}/name", d.Name);
            }

            Xenstore.Write($"{vm}/domains/{d.Domid}", dom);
            Xenstore.Write($"{vm}/domains/{d.Domid}/create-time", Str(createTime));
            Xenstore.Write($"{dom}/vm", vm);
            Xenstore.Write($"{dom}/name", d.Name);
            Xenstore.Mkdir($"{dom}/cpu");
            Xenstore.Mkdir($"{dom}/memory");
            foreach (var dir in GuestWritableDirs)
            {
                Xenstore.Mkdir($"{dom}/{dir}");
            }

            foreach (var dir in XenopsDeviceDirs)
            {
                Xenstore.Mkdir($"{xenops}/{dir}");
            }

            foreach (var (key, value) in spec.XenstoreData)
            {
                if (key.StartsWith("vm-data/", StringComparison.Ordinal) || key.StartsWith("FIST/", StringComparison.Ordinal))
                {
                    Xenstore.Write($"{dom}/{key}", value);
                }
            }

            foreach (var (key, value) in spec.Platform)
            {
                Xenstore.Write($"{dom}/platform/{key}", value);
            }

            foreach (var (key, value) in spec.BiosStrings)
            {
                Xenstore.Write($"{dom}/bios-strings/{key}", value);
            }

            if (spec.DomainType == DomainType.Hvm)
            {
                if (spec.Firmware == "uefi")
                {
                    Xenstore.Write($"{dom}/hvmloader/bios", "ovmf");
                }

                var barUc = spec.Platform.TryGetValue("xen-platform-pci-bar-uc", out var v) && v is "0" or "false" ? "0" : "1";
                Xenstore.Write($"{dom}/hvmloader/pci/xen-platform-pci-bar-uc", barUc);
            }

            Xenstore.Write($"{dom}/action-request", "poweroff");
            Xenstore.Write($"{dom}/control/platform-feature-multiprocessor-suspend", "1");
            Xenstore.Write($"{dom}/control/platform-feature-xs_reset_watches", "1");
            Xenstore.Write($"{dom}/control/has-vendor-device", spec.HasVendorDevice ? "1" : "0");
            Xenstore.Write($"{dom}/unique-domain-id", Guid.NewGuid().ToString());
            Xenstore.Write($"{dom}/domid", Str(d.Domid));

            // VM.create_exn: balloon target and the range squeezed works in
            Xenstore.Write($"{dom}/memory/initial-target", Str(d.MemoryTarget / MemoryModel.BytesPerKib));
            Xenstore.Write($"{dom}/memory/target", Str(d.MemoryTarget / MemoryModel.BytesPerKib));
            Xenstore.Write($"{dom}/memory/static-max", Str(MemoryModel.KibOfBytesUsed(spec.MemoryStaticMax)));
            Xenstore.Write($"{dom}/memory/dynamic-min", Str(MemoryModel.KibOfBytesUsed(spec.MemoryDynamicMin)));
            Xenstore.Write($"{dom}/memory/dynamic-max", Str(MemoryModel.KibOfBytesUsed(spec.MemoryDynamicMax)));
            for (var n = 0; n < spec.VcpusMax; n++)
            {
                Xenstore.Write($"{dom}/cpu/{n}/availability", n < spec.VcpusAtStartup ? "online" : "offline");
            }

            Xenstore.Write($"{dom}/domain-type", XenstoreDomainType(spec.DomainType));
            Xenstore.Write($"{libxl}/type", LibxlType(spec.DomainType));
        });
    }

    /// <summary>Domain.build_post and the console keys.</summary>
    private void WriteBuildKeysLocked(SimDomain d, BuildInfo info)
    {
        var spec = d.Spec;
        var hvmContainer = spec.DomainType is not DomainType.Pv;
        var (storePort, consolePort) = hvmContainer ? (spec.VcpusMax + 1, spec.VcpusMax + 2) : (1, 2);
        var pages = spec.MemoryStaticMax / MemoryModel.BytesPerPage;
        var (storeRing, consoleRing) = hvmContainer
            ? (HvmStoreRingRef, HvmConsoleRingRef)
            : (Str(Math.Max(pages - 2, 0)), Str(Math.Max(pages - 1, 0)));
        var dom = d.DomPath;
        Xenstore.Transaction(() =>
        {
            Xenstore.Write($"{dom}/memory/static-max", Str(MemoryModel.KibOfBytesUsed(spec.MemoryStaticMax)));
            Xenstore.Write($"{dom}/memory/target", Str(d.MemoryTarget / MemoryModel.BytesPerKib));
            Xenstore.Write($"{dom}/domid", Str(d.Domid));
            Xenstore.Write($"{dom}/store/port", Str(storePort));
            Xenstore.Write($"{dom}/store/ring-ref", storeRing);
            Xenstore.Write($"{dom}/serial/0/limit", Str(ConsoleLimit));
            Xenstore.Write($"{dom}/console/port", Str(consolePort));
            Xenstore.Write($"{dom}/console/ring-ref", consoleRing);
            Xenstore.Write($"{dom}/console/limit", Str(ConsoleLimit));
            Xenstore.Write($"{dom}/vcpu-params/affinity", info.VcpuAffinity);
            Xenstore.Write($"{dom}/vcpu-params/weight", Str(info.VcpuWeight));
            Xenstore.Write($"{dom}/vcpu-params/cap", Str(info.VcpuCap));
            if (hvmContainer)
            {
                var offset = spec.Platform.TryGetValue("timeoffset", out var t) && t.Length > 0 ? t : "0";
                Xenstore.Write($"{d.VmPath}/rtc/timeoffset", offset);
            }

            Xenstore.Write($"/libxl/{d.Domid}/type", LibxlType(spec.DomainType));
        });
    }

    /// <summary>The console's VNC port (when it has one) and, for qemu, its state.</summary>
    private void WriteDeviceModelKeysLocked(SimDomain d, int? vncPort) => Xenstore.Transaction(() =>
    {
        if (vncPort is { } port)
        {
            Xenstore.Write($"{d.DomPath}/console/vnc-port", Str(port));
        }

        if (d.Spec.DomainType == DomainType.Hvm)
        {
            Xenstore.Write($"{Dom0DeviceModel}/{d.Domid}/state", "running");
        }
    });

    /// <summary>
    /// Domain.destroy: the /vm back-pointer, the domain's trees, every backend, the device model, the hotplug tree;
    /// with no other domain of this VM left, its private and /vm trees too.
    /// </summary>
    private void RemoveDomainTreeLocked(SimDomain d) => Xenstore.Transaction(() =>
    {
        Xenstore.Remove($"{d.VmPath}/domains/{d.Domid}");
        foreach (var path in DomainSubtreesLocked(d))
        {
            Xenstore.Remove(path);
        }

        Xenstore.Remove($"/xapi/{d.Spec.VmId}/hotplug/{d.Domid}");
        if (Xenstore.Directory($"{d.VmPath}/domains").Count == 0)
        {
            foreach (var path in VmSubtrees(d))
            {
                Xenstore.Remove(path);
            }
        }
    });

    /// <summary>The subtrees keyed by the domain's domid (its own tree, xenopsd's and libxl's copies, backends, device model).</summary>
    private List<string> DomainSubtreesLocked(SimDomain d)
    {
        var domid = Str(d.Domid);
        List<string> paths = [d.DomPath, $"/xenops/domain/{domid}", $"/libxl/{domid}", $"{Dom0DeviceModel}/{domid}"];
        foreach (var root in new[] { Dom0Backend, Dom0XenserverBackend })
        {
            paths.AddRange(Xenstore.Directory(root).Select(kind => $"{root}/{kind}/{domid}"));
        }

        return paths;
    }

    /// <summary>The subtrees keyed by the domain's VM (<c>/vm/&lt;uuid&gt;</c>, the toolstack's private data).</summary>
    private static string[] VmSubtrees(SimDomain d) => [d.VmPath, $"/xapi/{d.Spec.VmId}"];

    private static string XenstoreDomainType(DomainType type) => type switch
    {
        DomainType.Hvm => "hvm",
        DomainType.Pv => "pv",
        DomainType.Pvh => "pvh",
        DomainType.PvInPvh => "pv-in-pvh",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    private static string LibxlType(DomainType type) => type switch
    {
        DomainType.Hvm => "HVM",
        DomainType.Pv => "PV",
        _ => "PVH",
    };
}
