using Xapi.Cqrs.Domain.Memory;
using Xapi.Cqrs.Domain.Vbds;

namespace Xapi.Cqrs.Domain.Vms;

/// <summary>
/// This product's own start-time parameter policy, kept from the wiki-era <c>Vmops.check_vm_parameters</c>
/// (XAPI.md §5.6, §6.8, §10 item 5). Current xapi raises none of these errors any more; the issue keeps
/// them as local policy. Runs in addition to, not instead of, the §4.3 checks (validate_vcpus etc.).
/// </summary>
public static class StartPolicy
{
    /// <summary>VCPUs_max must be below this (2009: "≥ 64 → VM_TOO_MANY_VCPUS").</summary>
    public const long VcpusLimit = 64;

    /// <summary><c>Xapi_globs.vm_minimum_memory</c> of 2009: 16 MiB of static_max.</summary>
    public const long MinimumStaticMax = 16 * MemoryModel.BytesPerMib;

    /// <summary>
    /// The first policy violation, or null. In order:
    /// <list type="number">
    /// <item>VCPUs_max ≤ 0 → VM_NO_VCPUS [vm]</item>
    /// <item>VCPUs_max ≥ 64 → VM_TOO_MANY_VCPUS [vm]</item>
    /// <item>memory_static_max &lt; 16 MiB → VM_MEMORY_SIZE_TOO_LOW [vm]</item>
    /// <item>two VBDs on the same disk position (after alias expansion: "0", "xvda", "hda" and "sda" are
    ///   one position, <see cref="DeviceNames.Position"/>) → VM_DUPLICATE_VBD_DEVICE [vm; vbd; device]
    ///   where vbd is the later VBD in id order and device is the xvd name of the shared position
    ///   (e.g. "xvda"), the device the two userdevices both translate to.</item>
    /// </list>
    /// Parameters are those the datamodel declares for these codes. VBDs come from
    /// <see cref="Vm.Vbds"/> (id → userdevice); names that are not valid positions are not compared.
    /// </summary>
    public static XapiException? Check(Vm vm)
    {
        var vmRef = vm.Id.ToString();
        if (vm.VcpusMax <= 0)
        {
            return new(ErrorCodes.VmNoVcpus, vmRef);
        }

        if (vm.VcpusMax >= VcpusLimit)
        {
            return new(ErrorCodes.VmTooManyVcpus, vmRef);
        }

        if (vm.MemoryStaticMax < MinimumStaticMax)
        {
            return new(ErrorCodes.VmMemorySizeTooLow, vmRef);
        }

        var seen = new HashSet<int>();
        foreach (var (vbdId, userdevice) in vm.Vbds.OrderBy(kv => kv.Key))
        {
            if (DeviceNames.Position(userdevice, vm.IsControlDomain) is int position && !seen.Add(position))
            {
                return new(ErrorCodes.VmDuplicateVbdDevice, vmRef, vbdId.ToString(), DeviceNames.XvdName(position));
            }
        }

        return null;
    }
}
