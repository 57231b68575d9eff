// main.bicep - a preemptible mpibatch cluster on Azure: a Spot VM Scale Set
// of HPC VMs that drains an Azure Storage queue, autoscaled on the queue's
// message count (down to zero instances when it is empty), with an Azure
// Files NFS share mounted at /shared on every node for data, results and
// checkpoints, and an optional login VM to upload data and enqueue work.
//
// It deliberately does not build or ship mpibatch itself: cloud-init.yaml
// (the scale set's custom data) builds it on each VM from a source tarball
// on the share, or from a git URL, and reads its settings from the VM's
// tags through the instance metadata service, so that this custom data is
// the file itself (loadFileAsBase64) and main.json can carry it verbatim.
//
// main.json is the ARM JSON of this file, kept in sync by hand (no Bicep
// compiler here): same parameters, variables and resources, under the same
// symbolic names (languageVersion 2.0). tests/lib/check_templates.py checks
// that they agree. Deploy either one:
//   az deployment group create -g RG -f hpc-templates/azure/main.bicep \
//       -p sshPublicKey="$(cat ~/.ssh/id_ed25519.pub)" sshSourcePrefix=203.0.113.7/32
// docs/running-on-azure.md walks through the whole path.
//
// Choices (and why):
// * Orchestration Uniform, singlePlacementGroup true: instances of one
//   placement group share one InfiniBand fabric, so the scale set can also
//   run one mpirun across several instances (hpc-templates/launch/
//   hostfile-from-vmss); autoscale and Spot are mature on Uniform. The price
//   is a limit of 100 instances.
// * evictionPolicy Delete: an evicted Spot VM is gone, disks included, and
//   stops counting against quota; nothing on it is needed afterwards
//   because checkpoints and results live on the share. Deallocate would keep
//   paying for the disks and leave stopped instances that autoscale counts
//   but that do no work.
// * terminateNotificationProfile (PT5M): scale-in deletions get a Terminate
//   Scheduled Event five minutes ahead; Spot evictions always get a Preempt
//   event (about 30 s). mpibatch answers both the same way: checkpoint,
//   release the message, approve the event, exit 75. No
//   osImageNotificationProfile: the scale set has no automatic OS upgrades
//   or reimaging, and mpibatch does not act on OSImage events.
// * Shared storage: an Azure Files premium NFS 4.1 share (a FileStorage
//   account of its own, reachable only from the subnet through a service
//   endpoint; NFS needs secure transfer off and uses no keys). POSIX
//   renames and fsync are what mpibatch's atomic results and checkpoints
//   need. For hundreds of nodes or heavy checkpoint traffic, point the
//   nodes at Azure NetApp Files or Azure Managed Lustre instead (change the
//   mpibatchNfsSource tag).
// * allowSharedKeyAccess false by default on both accounts: workers and the
//   login VM reach the queue with their managed identities (no keys on any
//   VM). Set it true only to enqueue from outside Azure with
//   AZURE_STORAGE_CONNECTION_STRING or an account-key SAS.
// * Queue roles: "Storage Queue Data Message Processor" (receive, delete)
//   on the work queue; a small custom role adding Update Message (renewing
//   and releasing a lease needs messages/write) and Get Queue Metadata (the
//   approximate count); "Storage Queue Data Message Sender" on the -poison
//   queue (moving a message there is Put Message). The workers cannot create
//   or delete queues: this template creates both.
// * Autoscale: see the autoscale resource at the end.

@description('Region of every resource.')
param location string = resourceGroup().location

@description('Prefix of resource names (scale set, network, login VM).')
param namePrefix string = 'mpibatch'

@description('VM size of the workers: an HPC size (HB/HC-series have InfiniBand).')
param vmSku string = 'Standard_HB120rs_v3'

@description('Instances when the scale set is created, and the autoscale default.')
param instanceCount int = 0

@description('Fewest instances autoscale keeps (0: none while the queue is empty).')
param minInstances int = 0

@description('Most instances autoscale starts (at most 100 in one placement group).')
@maxValue(100)
param maxInstances int = 10

@description('Scale out when the queue holds more than this many messages per instance.')
param messagesPerInstance int = 4

@description('Instances added per scale-out step.')
param scaleOutStep int = 2

@description('Metric autoscale follows: QueueMessageCount (Azure Monitor platform metric of the queue service: hourly, all queues of the account) or ApproximateMessageCount (the per-queue storage queue length autoscale reads itself: minutes).')
@allowed([
  'QueueMessageCount'
  'ApproximateMessageCount'
])
param queueMetric string = 'QueueMessageCount'

@description('Administrator user of every VM (SSH key login only).')
param adminUsername string = 'azureuser'

@description('SSH public key of the administrator (the text of an id_*.pub file).')
param sshPublicKey string

@description('Address range allowed to SSH to the login VM, e.g. 203.0.113.7/32.')
param sshSourcePrefix string

@description('Highest price per hour (USD) for a Spot worker; -1: up to the pay-as-you-go price, never evicted for price.')
param spotMaxPrice string = '-1'

@description('What happens to an evicted Spot worker.')
@allowed([
  'Delete'
  'Deallocate'
])
param evictionPolicy string = 'Delete'

@description('Name of the work queue; its poison queue is NAME-poison.')
param queueName string = 'mpibatch'

@description('Storage account (StorageV2) of the queue; keep it for the queue alone so that its message count is the backlog.')
@minLength(3)
@maxLength(24)
param queueAccountName string = 'mbq${uniqueString(resourceGroup().id)}'

@description('Storage account (premium FileStorage) of the NFS share.')
@minLength(3)
@maxLength(24)
param filesAccountName string = 'mbf${uniqueString(resourceGroup().id)}'

@description('Name of the NFS share mounted at /shared.')
param shareName string = 'shared'

@description('Provisioned size of the NFS share in GiB (premium shares: at least 100; throughput grows with size).')
@minValue(100)
param shareQuotaGiB int = 1024

@description('Allow account-key (Shared Key) authorization on the storage accounts.')
param allowSharedKeyAccess bool = false

@description('Address space of the virtual network.')
param vnetAddressPrefix string = '10.42.0.0/16'

@description('Address range of the subnet of the workers and the login VM.')
param subnetPrefix string = '10.42.0.0/22'

@description('Image of every VM: Ubuntu 22.04 (Debian packages of Open MPI and HDF5). For one mpirun across several instances over InfiniBand, the Ubuntu HPC image (microsoft-dsvm, ubuntu-hpc, 2204) brings the drivers.')
param imagePublisher string = 'Canonical'

@description('Image offer.')
param imageOffer string = '0001-com-ubuntu-server-jammy'

@description('Image SKU.')
param imageSku string = '22_04-lts-gen2'

@description('Image version.')
param imageVersion string = 'latest'

@description('Where VMs get the mpibatch source: empty for the tarball /shared/mpibatch/mpibatch-src.tar.gz on the share, or a git URL (e.g. https://example.invalid/mpibatch.git).')
param mpibatchSource string = ''

@description('Job file the workers run (on the share).')
param jobFile string = '/shared/job.job'

@description('Seconds a worker waits on an empty queue before it exits (mpibatch run --idle-exit).')
param idleExitSeconds int = 600

@description('MPI ranks per worker VM; 0: one per core.')
param ranksPerNode int = 0

@description('Also deploy a small login VM (public IP, SSH) to upload data, enqueue and collect results.')
param deployLoginNode bool = true

@description('VM size of the login VM.')
param loginVmSku string = 'Standard_D4s_v5'

var storageSuffix = environment().suffixes.storage
var poisonQueueName = '${queueName}-poison'
var queueUrl = 'https://${queueAccountName}.queue.${storageSuffix}/${queueName}'
var nfsSource = '${filesAccountName}.file.${storageSuffix}:/${filesAccountName}/${shareName}'
var vnetName = '${namePrefix}-vnet'
var subnetName = 'compute'
var vmssName = '${namePrefix}-vmss'
var loginName = '${namePrefix}-login'
var roleMessageProcessor = '8a0f0c08-91a1-4084-bc3d-661d67233fed'
var roleMessageSender = 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'
var roleQueueContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
// Read by cloud-init.yaml from the instance metadata service.
var nodeTags = {
  mpibatchQueueUrl: queueUrl
  mpibatchNfsSource: nfsSource
  mpibatchSource: mpibatchSource
  mpibatchJob: jobFile
  mpibatchIdleExit: string(idleExitSeconds)
  mpibatchRanks: string(ranksPerNode)
}
var perQueueMetric = queueMetric == 'ApproximateMessageCount'
var metricNamespace = perQueueMetric ? '' : 'microsoft.storage/storageaccounts/queueservices'
var metricTimeGrain = perQueueMetric ? 'PT1M' : 'PT1H'
var metricTimeWindow = perQueueMetric ? 'PT10M' : 'PT2H'

resource queueAccount 'Microsoft.Storage/storageAccounts@2023-01-01' = {
  name: queueAccountName
  location: location
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: allowSharedKeyAccess
    defaultToOAuthAuthentication: true
    accessTier: 'Hot'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-01-01' = {
  parent: queueAccount
  name: 'default'
}

resource workQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-01-01' = {
  parent: queueService
  name: queueName
}

resource poisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-01-01' = {
  parent: queueService
  name: poisonQueueName
}

resource nsg 'Microsoft.Network/networkSecurityGroups@2023-04-01' = {
  name: '${namePrefix}-nsg'
  location: location
  properties: {
    securityRules: [
      {
        name: 'ssh-from-admin'
        properties: {
          priority: 100
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefix: sshSourcePrefix
          sourcePortRange: '*'
          destinationAddressPrefix: '*'
          destinationPortRange: '22'
        }
      }
    ]
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2023-04-01' = {
  name: vnetName
  location: location
  properties: {
    addressSpace: {
      addressPrefixes: [
        vnetAddressPrefix
      ]
    }
    subnets: [
      {
        name: subnetName
        properties: {
          addressPrefix: subnetPrefix
          networkSecurityGroup: {
            id: nsg.id
          }
          serviceEndpoints: [
            {
              service: 'Microsoft.Storage'
            }
          ]
        }
      }
    ]
  }
}

resource filesAccount 'Microsoft.Storage/storageAccounts@2023-01-01' = {
  name: filesAccountName
  location: location
  kind: 'FileStorage'
  sku: {
    name: 'Premium_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    // NFS 4.1 shares are not reachable with secure transfer required.
    supportsHttpsTrafficOnly: false
    allowBlobPublicAccess: false
    allowSharedKeyAccess: allowSharedKeyAccess
    networkAcls: {
      defaultAction: 'Deny'
      bypass: 'AzureServices'
      virtualNetworkRules: [
        {
          id: resourceId('Microsoft.Network/virtualNetworks/subnets', vnetName, subnetName)
          action: 'Allow'
        }
      ]
    }
  }
  dependsOn: [
    vnet
  ]
}

resource fileService 'Microsoft.Storage/storageAccounts/fileServices@2023-01-01' = {
  parent: filesAccount
  name: 'default'
}

resource share 'Microsoft.Storage/storageAccounts/fileServices/shares@2023-01-01' = {
  parent: fileService
  name: shareName
  properties: {
    enabledProtocols: 'NFS'
    // The workers run mpibatch as the mpibatch user; root on the login VM
    // prepares directories for it.
    rootSquash: 'NoRootSquash'
    shareQuota: shareQuotaGiB
  }
}

resource vmss 'Microsoft.Compute/virtualMachineScaleSets@2023-03-01' = {
  name: vmssName
  location: location
  tags: union(nodeTags, {
    mpibatchRole: 'worker'
  })
  sku: {
    name: vmSku
    tier: 'Standard'
    capacity: instanceCount
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    orchestrationMode: 'Uniform'
    singlePlacementGroup: true
    overprovision: false
    upgradePolicy: {
      mode: 'Manual'
    }
    // Scale-in removes the newest instances first: the older ones are more
    // likely to be in the middle of a task.
    scaleInPolicy: {
      rules: [
        'NewestVM'
      ]
    }
    virtualMachineProfile: {
      priority: 'Spot'
      evictionPolicy: evictionPolicy
      billingProfile: {
        maxPrice: json(spotMaxPrice)
      }
      scheduledEventsProfile: {
        terminateNotificationProfile: {
          enable: true
          notBeforeTimeout: 'PT5M'
        }
      }
      osProfile: {
        computerNamePrefix: 'mbw'
        adminUsername: adminUsername
        customData: loadFileAsBase64('cloud-init.yaml')
        linuxConfiguration: {
          disablePasswordAuthentication: true
          ssh: {
            publicKeys: [
              {
                path: '/home/${adminUsername}/.ssh/authorized_keys'
                keyData: sshPublicKey
              }
            ]
          }
        }
      }
      storageProfile: {
        imageReference: {
          publisher: imagePublisher
          offer: imageOffer
          sku: imageSku
          version: imageVersion
        }
        osDisk: {
          createOption: 'FromImage'
          caching: 'ReadWrite'
          managedDisk: {
            storageAccountType: 'Premium_LRS'
          }
        }
      }
      networkProfile: {
        networkInterfaceConfigurations: [
          {
            name: 'nic'
            properties: {
              primary: true
              enableAcceleratedNetworking: true
              ipConfigurations: [
                {
                  name: 'ipconfig'
                  properties: {
                    subnet: {
                      id: resourceId('Microsoft.Network/virtualNetworks/subnets', vnetName, subnetName)
                    }
                  }
                }
              ]
            }
          }
        ]
      }
    }
  }
  dependsOn: [
    vnet
    share
    workQueue
    poisonQueue
  ]
}

resource leaseRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'mpibatch-queue-lease')
  properties: {
    roleName: 'mpibatch queue lease ${uniqueString(resourceGroup().id)}'
    description: 'Renew and release message leases (Update Message) and read queue metadata (approximate count).'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Storage/storageAccounts/queueServices/queues/read'
        ]
        notActions: []
        dataActions: [
          'Microsoft.Storage/storageAccounts/queueServices/queues/messages/write'
        ]
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

resource workerProcessorRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workQueue.id, vmss.id, roleMessageProcessor)
  scope: workQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleMessageProcessor)
    principalId: vmss.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource workerLeaseRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workQueue.id, vmss.id, leaseRole.id)
  scope: workQueue
  properties: {
    roleDefinitionId: leaseRole.id
    principalId: vmss.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource workerPoisonRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(poisonQueue.id, vmss.id, roleMessageSender)
  scope: poisonQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleMessageSender)
    principalId: vmss.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Scale out by scaleOutStep while the backlog per instance is above
// messagesPerInstance; scale in to minInstances only when the queue is
// empty (in-flight messages count until they are deleted, so instances at
// work are not removed while the queue still holds their message).
// QueueMessageCount is an hourly platform metric of the whole queue service
// (the poison queue included): autoscale reacts within one to two hours.
// ApproximateMessageCount follows the work queue alone, within minutes.
resource autoscale 'Microsoft.Insights/autoscalesettings@2022-10-01' = {
  name: '${vmssName}-autoscale'
  location: location
  properties: {
    name: '${vmssName}-autoscale'
    enabled: true
    targetResourceUri: vmss.id
    profiles: [
      {
        name: 'queue-backlog'
        capacity: {
          minimum: string(minInstances)
          maximum: string(maxInstances)
          default: string(instanceCount)
        }
        rules: [
          {
            metricTrigger: {
              metricName: queueMetric
              metricNamespace: metricNamespace
              metricResourceUri: perQueueMetric ? '${queueAccount.id}/services/queue/queues/${queueName}' : queueService.id
              timeGrain: metricTimeGrain
              statistic: 'Average'
              timeWindow: metricTimeWindow
              timeAggregation: 'Maximum'
              operator: 'GreaterThan'
              threshold: messagesPerInstance
              dividePerInstance: true
            }
            scaleAction: {
              direction: 'Increase'
              type: 'ChangeCount'
              value: string(scaleOutStep)
              cooldown: 'PT10M'
            }
          }
          {
            metricTrigger: {
              metricName: queueMetric
              metricNamespace: metricNamespace
              metricResourceUri: perQueueMetric ? '${queueAccount.id}/services/queue/queues/${queueName}' : queueService.id
              timeGrain: metricTimeGrain
              statistic: 'Average'
              timeWindow: metricTimeWindow
              timeAggregation: 'Maximum'
              operator: 'LessThanOrEqual'
              threshold: 0
              dividePerInstance: false
            }
            scaleAction: {
              direction: 'Decrease'
              type: 'ExactCount'
              value: string(minInstances)
              cooldown: 'PT15M'
            }
          }
        ]
      }
    ]
  }
  dependsOn: [
    workQueue
  ]
}

resource loginIp 'Microsoft.Network/publicIPAddresses@2023-04-01' = if (deployLoginNode) {
  name: '${loginName}-ip'
  location: location
  sku: {
    name: 'Standard'
  }
  properties: {
    publicIPAllocationMethod: 'Static'
  }
}

resource loginNic 'Microsoft.Network/networkInterfaces@2023-04-01' = if (deployLoginNode) {
  name: '${loginName}-nic'
  location: location
  properties: {
    ipConfigurations: [
      {
        name: 'ipconfig'
        properties: {
          privateIPAllocationMethod: 'Dynamic'
          subnet: {
            id: resourceId('Microsoft.Network/virtualNetworks/subnets', vnetName, subnetName)
          }
          publicIPAddress: {
            id: loginIp.id
          }
        }
      }
    ]
  }
  dependsOn: [
    vnet
  ]
}

resource loginVm 'Microsoft.Compute/virtualMachines@2023-03-01' = if (deployLoginNode) {
  name: loginName
  location: location
  tags: union(nodeTags, {
    mpibatchRole: 'login'
  })
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    hardwareProfile: {
      vmSize: loginVmSku
    }
    osProfile: {
      computerName: loginName
      adminUsername: adminUsername
      customData: loadFileAsBase64('cloud-init.yaml')
      linuxConfiguration: {
        disablePasswordAuthentication: true
        ssh: {
          publicKeys: [
            {
              path: '/home/${adminUsername}/.ssh/authorized_keys'
              keyData: sshPublicKey
            }
          ]
        }
      }
    }
    storageProfile: {
      imageReference: {
        publisher: imagePublisher
        offer: imageOffer
        sku: imageSku
        version: imageVersion
      }
      osDisk: {
        createOption: 'FromImage'
        managedDisk: {
          storageAccountType: 'Premium_LRS'
        }
      }
    }
    networkProfile: {
      networkInterfaces: [
        {
          id: loginNic.id
        }
      ]
    }
  }
  dependsOn: [
    share
  ]
}

// The operator's VM enqueues, peeks, purges and reads counts.
resource loginQueueRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (deployLoginNode) {
  name: guid(queueAccount.id, loginName, roleQueueContributor)
  scope: queueAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleQueueContributor)
    principalId: loginVm.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

output queueUrl string = queueUrl
output nfsSource string = nfsSource
output scaleSetName string = vmss.name
output loginPublicIp string = deployLoginNode ? loginIp.properties.ipAddress : ''
