using System.Collections.Immutable;

namespace Xapi.Cqrs.Domain.Vms;

/// <summary>
/// VM_guest_metrics (the part the lifecycle checks read): whether the guest runs PV drivers, their version, and the
/// <c>control/feature-*</c> flags they set. xapi's <c>check_op_for_feature</c> (§1.4 row 10) and the device hot-plug
/// checks (§2.1 row 9, §2.2 row 6) decide from these.
/// </summary>
public sealed record GuestMetrics(bool PvDriversDetected, string PvDriversVersion, ImmutableArray<string> Features, DateTimeOffset LastUpdated)
{
    public const string FeatureShutdown = "feature-shutdown";
    public const string FeaturePoweroff = "feature-poweroff";
    public const string FeatureReboot = "feature-reboot";
    public const string FeatureSuspend = "feature-suspend";
    public const string FeatureVcpuHotplug = "feature-vcpu-hotplug";

    public bool Has(string feature) => Features.Contains(feature);
}
