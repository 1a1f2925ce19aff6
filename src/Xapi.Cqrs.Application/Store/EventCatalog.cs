using Xapi.Cqrs.Domain.Devices;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Messages;
using Xapi.Cqrs.Domain.Networks;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Store;

/// <summary>
/// Every event type with the name it is stored under. Registered explicitly so that renaming or
/// moving a .NET type never changes what is in the log. Names are never changed once released.
/// </summary>
public static class EventCatalog
{
    public static readonly IReadOnlyList<(Type Type, string Name)> All =
    [
        (typeof(OperationAdded), "operation_added"),
        (typeof(OperationRemoved), "operation_removed"),

        (typeof(VmCreated), "vm_created"),
        (typeof(VbdAdded), "vbd_added"),
        (typeof(VifAdded), "vif_added"),
        (typeof(StartRefused), "start_refused"),
        (typeof(DomainTypeSet), "domain_type_set"),
        (typeof(MemoryOverheadUpdated), "memory_overhead_updated"),
        (typeof(BiosStringsSet), "bios_strings_set"),
        (typeof(HostChosen), "host_chosen"),
        (typeof(ScheduledToBeResidentOnSet), "scheduled_to_be_resident_on_set"),
        (typeof(ScheduledToBeResidentOnCleared), "scheduled_to_be_resident_on_cleared"),
        (typeof(DomainCreated), "domain_created"),
        (typeof(DomainBuilt), "domain_built"),
        (typeof(VbdPlugged), "vbd_plugged"),
        (typeof(VifPlugged), "vif_plugged"),
        (typeof(DeviceModelCreated), "device_model_created"),
        (typeof(DomainUnpaused), "domain_unpaused"),
        (typeof(ResidentOnSet), "resident_on_set"),
        (typeof(PowerStateChanged), "power_state_changed"),
        (typeof(StartFailed), "start_failed"),
        (typeof(RrdPushed), "rrd_pushed"),
        (typeof(RrdArchived), "rrd_archived"),
        (typeof(GuestMetricsReported), "guest_metrics_reported"),
        (typeof(DomainPaused), "domain_paused"),
        (typeof(ShutdownAcknowledged), "shutdown_acknowledged"),
        (typeof(DomainDestroyed), "domain_destroyed"),
        (typeof(VmRebooted), "vm_rebooted"),
        (typeof(DomainStoppedByItself), "domain_stopped_by_itself"),
        (typeof(OperationAbandoned), "operation_abandoned"),
        (typeof(VmDestroyed), "vm_destroyed"),

        (typeof(HostRegistered), "host_registered"),
        (typeof(HostEnabled), "host_enabled"),
        (typeof(HostDisabled), "host_disabled"),
        (typeof(HostLiveSet), "host_live_set"),
        (typeof(VmScheduledOnHost), "vm_scheduled_on_host"),
        (typeof(VmUnscheduledFromHost), "vm_unscheduled_from_host"),
        (typeof(VmResidentOnHost), "vm_resident_on_host"),
        (typeof(VmLeftHost), "vm_left_host"),

        (typeof(VbdCreated), "vbd_created"),
        (typeof(VbdCurrentlyAttachedSet), "vbd_currently_attached_set"),
        (typeof(VifCreated), "vif_created"),
        (typeof(VifCurrentlyAttachedSet), "vif_currently_attached_set"),
        (typeof(DeviceOperationForwarded), "device_operation_forwarded"),
        (typeof(VbdUnplugged), "vbd_unplugged"),
        (typeof(VifUnplugged), "vif_unplugged"),
        (typeof(VbdDestroyed), "vbd_destroyed"),
        (typeof(VifDestroyed), "vif_destroyed"),
        (typeof(VbdRemoved), "vbd_removed"),
        (typeof(VifRemoved), "vif_removed"),

        (typeof(SrCreated), "sr_created"),
        (typeof(VdiCreated), "vdi_created"),
        (typeof(VdiHeld), "vdi_held"),
        (typeof(VdiReleased), "vdi_released"),
        (typeof(NetworkCreated), "network_created"),

        (typeof(TaskCreated), "task_created"),
        (typeof(TaskProgressed), "task_progressed"),
        (typeof(TaskSucceeded), "task_succeeded"),
        (typeof(TaskFailed), "task_failed"),
        (typeof(TaskCancelled), "task_cancelled"),

        (typeof(MessageCreated), "message_created"),
    ];
}
